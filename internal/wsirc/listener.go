// Package wsirc serves IRC over WebSocket as the IRCv3 WebSocket specification describes
// (https://ircv3.net/specs/extensions/websocket): a Listener accepts HTTP(S) upgrade requests
// and hands out each WebSocket as a net.Conn carrying IRC lines, so an IRC server serves it
// like a TCP connection, under the same limits. It knows nothing of the IRC server or of
// Directus.
package wsirc

import (
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
)

// handshakeTimeout bounds an HTTP request and its upgrade: a client that opens a socket and
// says nothing holds it no longer than this.
const handshakeTimeout = 10 * time.Second

// maxHeaderBytes bounds the upgrade request's headers.
const maxHeaderBytes = 16 << 10

// DefaultMaxHandshakes bounds the connections that have not finished their upgrade: until then
// the IRC server does not see them, so its limits do not apply yet.
const DefaultMaxHandshakes = 1024

// Config is how a Listener admits WebSocket clients.
type Config struct {
	// Origins are the browser origins allowed to connect ("https://chat.example.com"), compared
	// exactly (case-insensitively); "*" allows every origin. Empty allows only pages from the
	// host the request was sent to (the Origin's host:port equals the Host header). A request
	// without an Origin header (not from a browser) is always allowed.
	Origins []string
	// TrustedProxies are the peers whose X-Forwarded-For header gives the client's address.
	TrustedProxies []netip.Prefix
	// MaxMessage bounds an incoming message in bytes (0: DefaultMaxMessage).
	MaxMessage int
	// MaxHandshakes bounds connections still in their HTTP upgrade; more are closed at once
	// (0: DefaultMaxHandshakes).
	MaxHandshakes int
	// TLS, when set, serves wss:// (HTTPS) instead of ws://.
	TLS *tls.Config
	// Log receives refused handshakes (debug and info); the zero Logger discards.
	Log zerolog.Logger
}

// Listener is a net.Listener whose connections are WebSocket clients.
type Listener struct {
	ln     net.Listener
	srv    *http.Server
	tls    bool
	conns  chan net.Conn
	done   chan struct{} // closed by Close
	served chan struct{} // closed when the HTTP server stopped; err says why
	err    error
	once   sync.Once

	pending       atomic.Int64 // connections not yet upgraded or closed
	maxHandshakes int64

	origins  []string
	proxies  []netip.Prefix
	limit    int
	log      zerolog.Logger
	upgrader websocket.Upgrader
}

// Listen listens on the TCP address addr and serves WebSocket upgrades on it.
func Listen(addr string, cfg Config) (*Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return NewListener(ln, cfg), nil
}

// NewListener serves WebSocket upgrades on ln (TLS is added when cfg.TLS is set). Close
// closes ln.
func NewListener(ln net.Listener, cfg Config) *Listener {
	l := &Listener{
		ln: ln, tls: cfg.TLS != nil,
		conns: make(chan net.Conn), done: make(chan struct{}), served: make(chan struct{}),
		proxies: cfg.TrustedProxies, limit: cfg.MaxMessage, log: cfg.Log,
		maxHandshakes: int64(cfg.MaxHandshakes),
	}
	if l.maxHandshakes <= 0 {
		l.maxHandshakes = DefaultMaxHandshakes
	}
	for _, o := range cfg.Origins {
		l.origins = append(l.origins, strings.TrimSuffix(o, "/"))
	}
	l.upgrader = websocket.Upgrader{
		HandshakeTimeout: handshakeTimeout,
		CheckOrigin:      l.originAllowed,
		WriteBufferPool:  &sync.Pool{}, // idle connections hold no write buffer
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			l.log.Debug().Str("peer", r.RemoteAddr).Int("status", status).Str("reason", reason.Error()).Msg("websocket handshake refused")
			http.Error(w, http.StatusText(status)+": this address serves IRC over WebSocket ("+TextProtocol+", "+BinaryProtocol+")", status)
		},
	}
	if l.tls {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	l.srv = &http.Server{
		Handler:           http.HandlerFunc(l.serveHTTP),
		ReadHeaderTimeout: handshakeTimeout,
		ReadTimeout:       handshakeTimeout,
		IdleTimeout:       handshakeTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){}, // HTTP/1.1 only: upgrades need it
		ErrorLog:          log.New(debugWriter{cfg.Log}, "", 0),
		ConnState:         l.connState,
	}
	go func() {
		l.err = l.srv.Serve(ln)
		close(l.served)
	}()
	return l
}

// Accept waits for the next WebSocket client.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "websocket", Addr: l.Addr(), Err: net.ErrClosed}
	case <-l.served:
		err := l.err
		if errors.Is(err, http.ErrServerClosed) {
			err = net.ErrClosed
		}
		return nil, &net.OpError{Op: "accept", Net: "websocket", Addr: l.Addr(), Err: err}
	}
}

// Close stops listening and refuses handshakes in progress; accepted connections stay open.
func (l *Listener) Close() error {
	err := net.ErrClosed
	l.once.Do(func() {
		close(l.done)
		err = l.srv.Close()
	})
	return err
}

// Addr is the listening address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// TLS reports whether the listener serves wss://.
func (l *Listener) TLS() bool { return l.tls }

func (l *Listener) serveHTTP(w http.ResponseWriter, r *http.Request) {
	header := http.Header{}
	if p := chooseSubprotocol(websocket.Subprotocols(r)); p != "" {
		header.Set("Sec-WebSocket-Protocol", p)
	}
	ws, err := l.upgrader.Upgrade(w, r, header)
	if err != nil {
		return // the upgrader answered the request
	}
	c := NewConn(ws, net.TCPAddrFromAddrPort(clientAddr(r, l.proxies)), l.limit)
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}

// connState counts the connections in their handshake and closes those over the limit. Each
// connection ends either hijacked (upgraded) or closed.
func (l *Listener) connState(c net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		if l.pending.Add(1) > l.maxHandshakes {
			l.log.Info().Str("peer", c.RemoteAddr().String()).Int64("limit", l.maxHandshakes).Msg("websocket handshake refused: too many in progress")
			_ = c.Close()
		}
	case http.StateHijacked, http.StateClosed:
		l.pending.Add(-1)
	}
}

// chooseSubprotocol picks the first of the client's subprotocols that is supported: the
// specification asks the server to respect the client's order of preference. "" (no
// subprotocol) is answered as text.ircv3.net.
func chooseSubprotocol(offered []string) string {
	for _, p := range offered {
		if p == TextProtocol || p == BinaryProtocol {
			return p
		}
	}
	return ""
}

// originAllowed is the browser origin check (see Config.Origins). It protects users' browsers
// from pages that would open IRC connections from the user's address without their knowing.
func (l *Listener) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	ok := false
	if len(l.origins) == 0 {
		u, err := url.Parse(origin)
		ok = err == nil && strings.EqualFold(u.Host, r.Host)
	}
	for _, o := range l.origins {
		if o == "*" || strings.EqualFold(o, origin) {
			ok = true
			break
		}
	}
	if !ok {
		l.log.Info().Str("origin", origin).Str("peer", r.RemoteAddr).Msg("websocket origin refused (server.websocket_origins)")
	}
	return ok
}

// debugWriter sends the HTTP server's own messages (TLS handshake errors and the like) to the
// log at debug level.
type debugWriter struct{ log zerolog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.log.Debug().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
