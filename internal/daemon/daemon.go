// Package daemon is directus-ircd's process: it wires the configuration into the IRC server,
// the Directus client and the bridge, opens the listeners and the health endpoint, and owns
// the order in which they start, reload and stop. cmd/directus-ircd calls Main; the
// integration tests use New, Reload and Shutdown, so the order they test is the order the
// binary has.
package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/directus-ircd/directus-ircd/bridge"
	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/internal/config"
	"github.com/directus-ircd/directus-ircd/internal/metrics"
	"github.com/directus-ircd/directus-ircd/internal/version"
	"github.com/directus-ircd/directus-ircd/internal/waitctx"
	"github.com/directus-ircd/directus-ircd/ircd"
)

// Options are what the daemon needs besides the configuration.
type Options struct {
	Version string // shown in logs and the IRC VERSION reply
	// TuneDirectus, if set, adjusts the Directus client's settings that the configuration
	// file does not expose (heartbeat and ping periods), for tests of network faults.
	TuneDirectus func(*directus.Config)
}

// Daemon is the running process: IRC listeners, the bridge and the health endpoint.
type Daemon struct {
	cfg    config.Config
	opts   Options
	log    zerolog.Logger
	srv    *ircd.Server
	bridge *bridge.Bridge
	lns    []net.Listener
	health *http.Server
	reg    *prometheus.Registry // GET /metrics on the health listener

	tlsCert atomic.Pointer[tls.Certificate] // what TLS listeners present; Reload replaces it

	cancelServe, cancelBridge context.CancelFunc
	wg                        sync.WaitGroup
	fatal                     chan error // a part that stopped on its own
	stopOnce                  sync.Once
	stopErr                   error
}

// New opens the listeners and starts serving: the Directus subscription, IRC and health.
// A configuration that cannot work is a *config.FieldError (see IsConfigError).
func New(cfg config.Config, log zerolog.Logger, opts Options) (*Daemon, error) {
	if err := CheckConfig(cfg); err != nil {
		return nil, err
	}
	dcfg := directus.Config{
		URL: cfg.Directus.URL, CAFile: cfg.Directus.CAFile,
		DialTimeout: cfg.Directus.DialTimeout, RequestTimeout: cfg.Directus.RequestTimeout,
		ReconnectMax: cfg.Directus.ReconnectMax,
		Logger:       log.With().Str("component", "directus").Logger(),
	}
	if opts.TuneDirectus != nil {
		opts.TuneDirectus(&dcfg)
	}
	dc, err := directus.New(dcfg)
	if err != nil {
		return nil, &config.FieldError{Key: "directus", Msg: err.Error()}
	}
	ircCfg, err := ircdConfig(cfg, opts)
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, opts: opts, log: log, fatal: make(chan error, 1+len(cfg.Server.Listen)+len(cfg.Server.TLSListen)+len(cfg.Server.WebSocketListen)+len(cfg.Server.WebSocketTLSListen))}
	// One registry per daemon; the IRC server and the bridge register their own collectors.
	d.reg = metrics.NewRegistry()
	if ircCfg.Metrics, err = ircd.NewMetrics(d.reg); err != nil {
		return nil, err
	}
	brCfg := bridgeConfig(cfg)
	if brCfg.Metrics, err = bridge.NewMetrics(d.reg); err != nil {
		return nil, err
	}
	d.bridge = bridge.New(brCfg, dc, log.With().Str("component", "bridge").Logger())
	d.srv = ircd.NewServer(ircCfg, d.bridge, log.With().Str("component", "ircd").Logger())
	d.bridge.Attach(d.srv)
	if err := d.listen(); err != nil {
		d.closeListeners()
		return nil, err
	}
	if cfg.Health.Listen != "" {
		if err := d.startHealth(cfg.Health.Listen); err != nil {
			d.closeListeners()
			return nil, err
		}
	}
	var serveCtx, bridgeCtx context.Context
	serveCtx, d.cancelServe = context.WithCancel(context.Background())
	bridgeCtx, d.cancelBridge = context.WithCancel(context.Background())
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.bridge.Run(bridgeCtx); err != nil {
			d.fatal <- fmt.Errorf("bridge: %w", err)
		}
	}()
	for _, ln := range d.lns {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if err := d.srv.Serve(serveCtx, ln); err != nil && serveCtx.Err() == nil {
				d.fatal <- fmt.Errorf("listener %s: %w", ln.Addr(), err)
			}
		}()
		isTLS, isWS := listenerKind(ln)
		log.Info().Str("addr", ln.Addr().String()).Bool("tls", isTLS).Bool("websocket", isWS).Str("channel", cfg.Channel.Name).Msg("listening for IRC clients")
	}
	log.Info().Str("version", opts.Version).Str("commit", version.Get().Commit).Str("go", version.Get().GoVersion).Str("directus", config.MaskURL(cfg.Directus.URL)).
		Strs("listen", d.addrStrings()).Str("health", cfg.Health.Listen).Str("channel", cfg.Channel.Name).
		Msg("directus-ircd started")
	return d, nil
}

// CheckConfig is what New requires of a loaded configuration before it starts anything;
// `directus-ircd check-config` runs it too, so that it fails exactly as `run` does.
func CheckConfig(cfg config.Config) error {
	if cfg.Directus.Token == "" {
		return &config.FieldError{Key: "directus.token", Msg: "is required: run `directus-ircd setup` to create the bridge user and its token"}
	}
	_, err := cfg.MOTDLines()
	return err
}

// Metrics is the daemon's Prometheus registry, as GET /metrics serves it.
func (d *Daemon) Metrics() prometheus.Gatherer { return d.reg }

// IsConfigError reports whether err means the configuration or the credentials in it cannot
// work (restarting will not help): the process exits with ExitConfig.
func IsConfigError(err error) bool {
	var fe *config.FieldError
	return errors.As(err, &fe) || errors.Is(err, bridge.ErrServiceToken)
}

// Fatal delivers an error when a part of the daemon stopped on its own.
func (d *Daemon) Fatal() <-chan error { return d.fatal }

// Addrs are the IRC listeners' addresses (plain first, then TLS, in configuration order).
func (d *Daemon) Addrs() []net.Addr {
	out := make([]net.Addr, len(d.lns))
	for i, ln := range d.lns {
		out[i] = ln.Addr()
	}
	return out
}

// Server is the IRC server (for tests that inspect it).
func (d *Daemon) Server() *ircd.Server { return d.srv }

// Bridge is the bridge (for tests that inspect it).
func (d *Daemon) Bridge() *bridge.Bridge { return d.bridge }

func (d *Daemon) addrStrings() []string {
	var out []string
	for _, ln := range d.lns {
		scheme := "irc"
		switch isTLS, isWS := listenerKind(ln); {
		case isWS && isTLS:
			scheme = "wss"
		case isWS:
			scheme = "ws"
		case isTLS:
			scheme = "ircs"
		}
		out = append(out, scheme+"://"+ln.Addr().String())
	}
	return out
}

// Shutdown stops the daemon within server.shutdown_timeout, in this order:
//  1. stop accepting; keep reading every connection, without flood delays, until its client
//     has gone quiet, so each channel line already sent is created or refused by name (the
//     bridge refuses new lines once the stop has begun);
//  2. the bridge creates held messages (Directus up) or refuses them by name;
//  3. every connection gets ERROR :server shutting down after its pending replies, and closes;
//  4. accounts end: Directus sessions are logged out, concurrently and best effort;
//  5. the health endpoint and the Directus subscription stop.
//
// When Directus is slow or gone, each step is cut short at the deadline rather than waited
// for. The error reports a step cut short; nothing the user was promised depends on it.
func (d *Daemon) Shutdown() error {
	d.stopOnce.Do(func() { d.stopErr = d.shutdown() })
	return d.stopErr
}

func (d *Daemon) shutdown() error {
	timeout := d.cfg.Server.ShutdownTimeout
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// At the deadline nothing waits for Directus any more: requests in flight are cancelled.
	stopAbort := context.AfterFunc(ctx, d.bridge.Abort)
	defer stopAbort()
	readCtx, readCancel := context.WithTimeout(ctx, timeout/3)
	d.srv.Drain(readCtx)
	readCancel()
	heldCtx, heldCancel := context.WithTimeout(ctx, timeout*2/3-time.Since(start))
	d.bridge.Drain(heldCtx)
	heldCancel()
	err := d.srv.Shutdown(ctx)
	d.bridge.Close(ctx)
	if d.health != nil {
		_ = d.health.Shutdown(ctx)
	}
	d.cancelBridge()
	d.cancelServe()
	if werr := waitctx.Wait(ctx, &d.wg); werr != nil {
		err = errors.Join(err, fmt.Errorf("shutdown: %w", werr))
	}
	d.closeListeners()
	return err
}

// tlsListener marks the TLS listeners (for the log).
type tlsListener struct{ net.Listener }

// listen opens server.listen, server.tls_listen and the WebSocket listeners. The TLS certificate is looked up per
// handshake, so a reload can replace it without dropping connections or listeners.
func (d *Daemon) listen() error {
	for _, addr := range d.cfg.Server.Listen {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return &config.FieldError{Key: "server.listen", Msg: err.Error()}
		}
		d.lns = append(d.lns, ln)
	}
	if d.cfg.TLSEnabled() {
		cert, err := d.cfg.TLSCertificate()
		if err != nil {
			return err
		}
		d.tlsCert.Store(cert)
	}
	for _, addr := range d.cfg.Server.TLSListen {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return &config.FieldError{Key: "server.tls_listen", Msg: err.Error()}
		}
		d.lns = append(d.lns, tlsListener{tls.NewListener(ln, serverTLSConfig(d.tlsCert.Load))})
	}
	wsLns, err := listenWebSocket(d.cfg, d.tlsCert.Load, d.log.With().Str("component", "websocket").Logger())
	if err != nil {
		return err
	}
	d.lns = append(d.lns, wsLns...)
	return nil
}

func (d *Daemon) closeListeners() {
	for _, ln := range d.lns {
		_ = ln.Close()
	}
}

// Reload applies what can change at run time: MOTD, topic, limits and the TLS certificate.
// The rest (listen addresses, Directus settings, channel name, login) needs a restart, and
// the log names the keys that changed and wait for it.
func (d *Daemon) Reload(cfg config.Config) {
	ircCfg, err := ircdConfig(cfg, d.opts)
	if err != nil {
		d.log.Error().Err(err).Msg("reload refused")
		return
	}
	changed := d.srv.Reload(ircCfg)
	if d.cfg.TLSEnabled() {
		// Validation in config.Load has just read the files; a renewed pair takes effect for
		// new connections.
		cert, err := cfg.TLSCertificate()
		if err != nil {
			d.log.Error().Err(err).Msg("reload: TLS certificate not replaced")
		} else if old := d.tlsCert.Swap(cert); !bytes.Equal(old.Certificate[0], cert.Certificate[0]) {
			changed = append(changed, "tls certificate")
		}
	}
	if restart := restartKeys(d.cfg, cfg); len(restart) > 0 {
		d.log.Warn().Strs("keys", restart).Msg("reload: these settings changed but take effect only after a restart")
	}
	d.log.Info().Strs("changed", changed).Msg("configuration reloaded")
}

// restartKeys names the settings that differ between old and new and that a reload cannot
// apply.
func restartKeys(old, cfg config.Config) []string {
	var keys []string
	check := func(key string, a, b any) {
		if fmt.Sprint(a) != fmt.Sprint(b) {
			keys = append(keys, key)
		}
	}
	check("server.listen", old.Server.Listen, cfg.Server.Listen)
	check("server.tls_listen", old.Server.TLSListen, cfg.Server.TLSListen)
	check("server.websocket_listen", old.Server.WebSocketListen, cfg.Server.WebSocketListen)
	check("server.websocket_tls_listen", old.Server.WebSocketTLSListen, cfg.Server.WebSocketTLSListen)
	check("server.websocket_origins", old.Server.WebSocketOrigins, cfg.Server.WebSocketOrigins)
	check("server.trusted_proxies", old.Server.TrustedProxies, cfg.Server.TrustedProxies)
	check("channel.name", old.Channel.Name, cfg.Channel.Name)
	check("channel.history", old.Channel.History, cfg.Channel.History)
	check("directus", old.Directus, cfg.Directus)
	check("login", old.Login, cfg.Login)
	check("queue", old.Queue, cfg.Queue)
	check("health.listen", old.Health.Listen, cfg.Health.Listen)
	return keys
}

func (d *Daemon) startHealth(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return &config.FieldError{Key: "health.listen", Msg: err.Error()}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(d.reg))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if st := d.bridge.Status(); st.State != bridge.StateReady {
			http.Error(w, st.State.String(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	d.health = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.health.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error().Err(err).Msg("health endpoint failed")
		}
	}()
	d.log.Info().Str("addr", ln.Addr().String()).Msg("health endpoint listening")
	return nil
}

func ircdConfig(c config.Config, opts Options) (ircd.Config, error) {
	motd, err := c.MOTDLines()
	if err != nil {
		return ircd.Config{}, err
	}
	return ircd.Config{
		ServerName: c.Server.Name, Network: c.Server.Network,
		Channel: c.Channel.Name, Topic: c.Channel.Topic, MOTD: motd,
		Version: "directus-ircd-" + opts.Version, DefaultHost: "directus",
		AutoJoin: c.Channel.AutoJoin, MaxLines: c.Channel.MaxLines, History: c.Channel.History,
		MaxClients: c.Server.MaxClients, MaxClientsPerIP: c.Server.MaxClientsPerIP,
		RegistrationTimeout: c.Server.RegistrationTimeout,
		PingInterval:        c.Server.PingInterval, PingTimeout: c.Server.PingTimeout,
		SendQueueLen: c.Server.SendQueue, FloodRate: c.Server.FloodRate, FloodBurst: c.Server.FloodBurst,
	}, nil
}

func bridgeConfig(c config.Config) bridge.Config {
	return bridge.Config{
		Collection: c.Directus.Collection, History: c.Channel.History, BackfillMax: c.Channel.BackfillMax,
		EmailDomain: c.Login.EmailDomain, ServerPassword: c.Login.ServerPassword,
		ServiceToken: c.Directus.Token,
		Guests:       c.Login.Guests, GuestsMayPost: c.Login.GuestsMayPost, GuestSuffix: c.Login.GuestSuffix,
		FailuresPerAddress: c.Login.FailuresPerAddress, FailuresPerAccount: c.Login.FailuresPerAccount,
		FailureWindow: c.Login.FailureWindow, RevocationCheck: c.Login.RevocationCheck,
		LoginConcurrency: c.Login.MaxConcurrent, LoginQueueTimeout: c.Login.QueueTimeout,
		QueuePerUser: c.Queue.PerUser, QueueTotal: c.Queue.Total, QueueMaxWait: c.Queue.MaxWait,
		RequestTimeout: c.Directus.RequestTimeout,
	}
}
