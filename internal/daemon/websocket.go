package daemon

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/rs/zerolog"

	"github.com/directus-ircd/directus-ircd/internal/config"
	"github.com/directus-ircd/directus-ircd/internal/wsirc"
)

// listenWebSocket opens server.websocket_listen (ws://) and server.websocket_tls_listen
// (wss://, presenting what cert returns at each handshake, so a reload renews it). The
// listeners are served by the IRC server like the TCP ones, under the same limits.
func listenWebSocket(cfg config.Config, cert func() *tls.Certificate, log zerolog.Logger) ([]net.Listener, error) {
	proxies, err := cfg.TrustedProxyPrefixes()
	if err != nil {
		return nil, err
	}
	var lns []net.Listener
	open := func(addr string, tlsCfg *tls.Config) error {
		ln, err := wsirc.Listen(addr, wsirc.Config{
			Origins: cfg.Server.WebSocketOrigins, TrustedProxies: proxies, TLS: tlsCfg, Log: log,
		})
		if err != nil {
			return fmt.Errorf("listen %s (WebSocket): %w", addr, err)
		}
		lns = append(lns, ln)
		return nil
	}
	for _, addr := range cfg.Server.WebSocketListen {
		err = open(addr, nil)
		if err != nil {
			break
		}
	}
	for _, addr := range cfg.Server.WebSocketTLSListen {
		if err != nil {
			break
		}
		err = open(addr, serverTLSConfig(cert))
	}
	if err != nil {
		for _, ln := range lns {
			_ = ln.Close()
		}
		return nil, err
	}
	return lns, nil
}

// serverTLSConfig is the TLS setting of every TLS listener: the certificate is looked up per
// handshake, so a reload can replace it without dropping connections or listeners.
func serverTLSConfig(cert func() *tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert(), nil },
	}
}

// listenerKind says, for the log, whether ln serves TLS and whether it serves WebSocket.
func listenerKind(ln net.Listener) (isTLS, isWebSocket bool) {
	if ws, ok := ln.(*wsirc.Listener); ok {
		return ws.TLS(), true
	}
	_, isTLS = ln.(tlsListener)
	return isTLS, false
}

// webSocketSettings are the WebSocket keys that a reload cannot change (for its warning).
func webSocketSettings(c config.Config) string {
	return fmt.Sprint(c.Server.WebSocketListen, c.Server.WebSocketTLSListen, c.Server.WebSocketOrigins, c.Server.TrustedProxies)
}
