package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// validateWebSocket checks server.websocket_origins and server.trusted_proxies.
func (c *Config) validateWebSocket() error {
	for _, o := range c.Server.WebSocketOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return &FieldError{Key: "server.websocket_origins", Msg: fmt.Sprintf("%q is not an origin such as https://chat.example.com (or *)", o)}
		}
	}
	_, err := c.TrustedProxyPrefixes()
	return err
}

// TrustedProxyPrefixes is server.trusted_proxies: addresses ("10.0.0.1") and CIDR prefixes
// ("10.0.0.0/8") of the reverse proxies whose X-Forwarded-For header is believed.
func (c *Config) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(c.Server.TrustedProxies))
	for _, s := range c.Server.TrustedProxies {
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil {
				p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
			}
		}
		if err != nil {
			return nil, &FieldError{Key: "server.trusted_proxies", Msg: fmt.Sprintf("%q is not an IP address or CIDR prefix such as 10.0.0.0/8", s)}
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
