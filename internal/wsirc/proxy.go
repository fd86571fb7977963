package wsirc

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is the address of the client that made r. It is the TCP peer, unless the peer is
// a trusted proxy: then it is the rightmost address of X-Forwarded-For that is not a trusted
// proxy itself (the entries left of it can be forged by the client). When every entry is a
// trusted proxy, the leftmost is the client. An entry that is not an address stops the walk:
// the connection is attributed to the trusted hop that passed it on.
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.AddrPort {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.AddrPort{}
	}
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	if !isTrusted(peer.Addr(), trusted) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client = netip.AddrPortFrom(a, 0)
		if !isTrusted(a, trusted) {
			break
		}
	}
	return client
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a port.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
