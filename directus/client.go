package directus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
)

// Defaults for the zero values of Config.
const (
	DefaultDialTimeout      = 10 * time.Second
	DefaultRequestTimeout   = 15 * time.Second
	DefaultHeartbeatTimeout = 75 * time.Second // 2 × Directus's 30 s heartbeat period + margin
	DefaultPingInterval     = 25 * time.Second
	DefaultEventBuffer      = 1024
	DefaultReconnectMin     = 200 * time.Millisecond
	DefaultReconnectMax     = 5 * time.Second
	DefaultProbeInterval    = 250 * time.Millisecond
	DefaultRefusedRetry     = 30 * time.Second
	DefaultTokenCheck       = 15 * time.Second
)

// Config configures a Client. Only URL is required.
type Config struct {
	// URL is the Directus base URL, http(s)://host[:port][/path].
	URL string
	// CAFile is a PEM file with extra root certificates trusted for https
	// (added to the system roots).
	CAFile string
	// DialTimeout bounds TCP connect, TLS and the WebSocket upgrade.
	DialTimeout time.Duration
	// RequestTimeout bounds a REST or WebSocket request whose context has no
	// deadline.
	RequestTimeout time.Duration
	// HeartbeatTimeout closes a WebSocket on which nothing was received for
	// this long. Negative disables it (needed when Directus runs with
	// WEBSOCKETS_HEARTBEAT_ENABLED=false and the socket may stay silent).
	HeartbeatTimeout time.Duration
	// PingInterval is how often the client sends its own {"type":"ping"}
	// (Directus answers with a pong, which feeds HeartbeatTimeout). Negative
	// disables it; Directus's own pings are always answered.
	PingInterval time.Duration
	// EventBuffer is the capacity of a subscription's event channel.
	EventBuffer int
	// ReconnectMin and ReconnectMax bound RunStream's exponential backoff.
	ReconnectMin, ReconnectMax time.Duration
	// ProbeInterval is how often RunStream asks GET /server/ping while
	// Directus is down, so that it reconnects within about this long of
	// Directus answering again rather than at the end of its backoff. Each
	// probe times out after at most a second.
	ProbeInterval time.Duration
	// RefusedRetry is how long RunStream waits before trying again when
	// Directus refuses it (the token is rejected, WebSockets are disabled):
	// an operator has to fix that, so retrying fast only adds noise.
	RefusedRetry time.Duration
	// TokenCheck is how often a connection authenticated with a static
	// token sends the token again (an auth frame), so that a token Directus
	// no longer accepts ends the connection with ErrInvalidCredentials at
	// once rather than at the next reconnect: Directus keeps an open socket
	// authenticated after its token was removed. Negative disables it.
	TokenCheck time.Duration
	// Logger receives diagnostics. The zero value logs nothing. Secrets are
	// never logged.
	Logger zerolog.Logger
	// HTTPClient is used for REST calls. When nil a client honouring CAFile
	// and DialTimeout is built. When set, CAFile applies to WebSockets only.
	HTTPClient *http.Client
}

// Client talks to one Directus instance over REST and opens WebSocket
// connections to it. It holds no credentials and is safe for concurrent use.
type Client struct {
	cfg    Config
	base   *url.URL // without trailing slash
	wsURL  string
	http   *http.Client
	dialer *websocket.Dialer
	log    zerolog.Logger

	conns atomic.Int64 // open Conns (WebSockets), for OpenConns
	subs  atomic.Int64 // established, not yet ended Subscriptions, for Subscriptions
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	base, err := parseBaseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	cfg = withDefaults(cfg)
	tlsConf, err := tlsConfig(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, base: base, wsURL: websocketURL(base), log: cfg.Logger}
	c.http = cfg.HTTPClient
	if c.http == nil {
		c.http = newHTTPClient(cfg.DialTimeout, tlsConf)
	}
	c.dialer = &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: cfg.DialTimeout,
		TLSClientConfig:  tlsConf,
	}
	return c, nil
}

// OpenConns is the number of WebSocket connections (Conns) of this client that are open:
// dialled and not yet ended. It is meant for metrics.
func (c *Client) OpenConns() int { return int(c.conns.Load()) }

// Subscriptions is the number of subscriptions held over this client's connections:
// Subscribe returned and the subscription has not ended (Unsubscribe, an error for it, a
// stalled consumer or its connection's end). It is meant for metrics.
func (c *Client) Subscriptions() int { return int(c.subs.Load()) }

// URL returns the base URL the client was configured with, without a
// trailing slash.
func (c *Client) URL() string { return c.base.String() }

// WebSocketURL returns ws(s)://host[/path]/websocket.
func (c *Client) WebSocketURL() string { return c.wsURL }

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("directus: invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("directus: URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("directus: URL %q has no host", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("directus: URL must not contain user info, query or fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func websocketURL(base *url.URL) string {
	ws := *base
	ws.Scheme = "ws"
	if base.Scheme == "https" {
		ws.Scheme = "wss"
	}
	ws.Path = base.Path + "/websocket"
	return ws.String()
}

func withDefaults(cfg Config) Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.DialTimeout, DefaultDialTimeout)
	def(&cfg.RequestTimeout, DefaultRequestTimeout)
	def(&cfg.HeartbeatTimeout, DefaultHeartbeatTimeout)
	def(&cfg.PingInterval, DefaultPingInterval)
	def(&cfg.ReconnectMin, DefaultReconnectMin)
	def(&cfg.ReconnectMax, DefaultReconnectMax)
	def(&cfg.ProbeInterval, DefaultProbeInterval)
	def(&cfg.RefusedRetry, DefaultRefusedRetry)
	def(&cfg.TokenCheck, DefaultTokenCheck)
	if cfg.EventBuffer <= 0 {
		cfg.EventBuffer = DefaultEventBuffer
	}
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = cfg.ReconnectMin
	}
	return cfg
}

func tlsConfig(caFile string) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return conf, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("directus: CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("directus: CA file " + caFile + " contains no PEM certificate")
	}
	conf.RootCAs = pool
	return conf, nil
}

func newHTTPClient(dialTimeout time.Duration, tlsConf *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSClientConfig = tlsConf
	tr.TLSHandshakeTimeout = dialTimeout
	return &http.Client{
		Transport: tr,
		// Never follow redirects: they could carry the Authorization header elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
