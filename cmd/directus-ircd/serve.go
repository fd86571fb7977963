package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/directus-ircd/directus-ircd/bridge"
	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/internal/config"
	"github.com/directus-ircd/directus-ircd/internal/metrics"
	"github.com/directus-ircd/directus-ircd/internal/version"
	"github.com/directus-ircd/directus-ircd/ircd"
)

func serve(args, environ []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	cfg, err := loadConfig(*path, environ)
	if err != nil {
		fmt.Fprintln(stderr, "directus-ircd:", err)
		return exitConfig
	}
	log := newLogger(cfg.Log, stderr)
	v := version.Get()
	log.Info().Str("version", v.Version).Str("commit", v.Commit).Str("go", v.GoVersion).Str("directus", cfg.Directus.URL).Msg("starting")
	d, err := newDaemon(cfg, log)
	if err != nil {
		log.Error().Err(err).Msg("cannot start")
		return 1
	}
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	code := 0
wait:
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				d.reload(*path, environ)
				continue
			}
			log.Info().Str("signal", s.String()).Msg("shutting down")
			break wait
		case err := <-d.fatal:
			log.Error().Err(err).Msg("cannot continue; shutting down")
			code = 1
			break wait
		}
	}
	if err := d.shutdown(); err != nil {
		log.Error().Err(err).Msg("shutdown incomplete")
		return 1
	}
	log.Info().Msg("stopped")
	return code
}

// daemon is the running process: IRC listeners, the bridge and the health endpoint.
type daemon struct {
	cfg    config.Config
	log    zerolog.Logger
	srv    *ircd.Server
	bridge *bridge.Bridge
	lns    []net.Listener
	health *http.Server
	reg    *prometheus.Registry // served as GET /metrics on the health listener

	tlsCert atomic.Pointer[tls.Certificate] // what TLS listeners present; SIGHUP replaces it

	cancelServe, cancelBridge context.CancelFunc
	wg                        sync.WaitGroup
	fatal                     chan error // a part that stopped on its own: the daemon exits 1
}

func newDaemon(cfg config.Config, log zerolog.Logger) (*daemon, error) {
	dc, err := directus.New(directus.Config{
		URL: cfg.Directus.URL, CAFile: cfg.Directus.CAFile,
		DialTimeout: cfg.Directus.DialTimeout, RequestTimeout: cfg.Directus.RequestTimeout,
		Logger: log.With().Str("component", "directus").Logger(),
	})
	if err != nil {
		return nil, fmt.Errorf("directus: %w", err)
	}
	ircCfg, err := ircdConfig(cfg)
	if err != nil {
		return nil, err
	}
	d := &daemon{cfg: cfg, log: log, fatal: make(chan error, 1+len(cfg.Server.Listen)+len(cfg.Server.TLSListen))}
	// One registry per daemon; each package registers its own collectors into it.
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
	if err := d.listenTLS(); err != nil {
		d.closeListeners()
		return nil, err
	}
	for _, addr := range cfg.Server.Listen {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			d.closeListeners()
			return nil, fmt.Errorf("listen %s: %w", addr, err)
		}
		d.lns = append(d.lns, ln)
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
		_, isTLS := ln.(tlsListener)
		log.Info().Str("addr", ln.Addr().String()).Bool("tls", isTLS).Str("channel", cfg.Channel.Name).Msg("listening for IRC clients")
	}
	return d, nil
}

// shutdown stops accepting, finishes or reports messages on their way to Directus, tells
// clients, and waits for everything it started, within server.shutdown_timeout.
func (d *daemon) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.Server.ShutdownTimeout)
	defer cancel()
	d.cancelServe()
	d.closeListeners()
	d.bridge.Drain(ctx)
	err := d.srv.Shutdown(ctx)
	if d.health != nil {
		_ = d.health.Shutdown(ctx)
	}
	d.cancelBridge()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return errors.Join(err, fmt.Errorf("shutdown: %w", ctx.Err()))
	}
	return err
}

// tlsListener marks the TLS listeners (for the log).
type tlsListener struct{ net.Listener }

// listenTLS opens server.tls_listen. The certificate is looked up per handshake, so a reload
// can replace it without dropping connections or listeners.
func (d *daemon) listenTLS() error {
	if len(d.cfg.Server.TLSListen) == 0 {
		return nil
	}
	cert, err := d.cfg.TLSCertificate()
	if err != nil {
		return err
	}
	d.tlsCert.Store(cert)
	tlsCfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return d.tlsCert.Load(), nil
		},
	}
	for _, addr := range d.cfg.Server.TLSListen {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen %s (TLS): %w", addr, err)
		}
		d.lns = append(d.lns, tlsListener{tls.NewListener(ln, tlsCfg)})
	}
	return nil
}

func (d *daemon) closeListeners() {
	for _, ln := range d.lns {
		_ = ln.Close()
	}
}

// reload applies what can change at run time: MOTD, topic, limits and the TLS certificate.
// The rest (listen addresses, Directus settings, channel name) needs a restart, and the log
// says so.
func (d *daemon) reload(path string, environ []string) {
	cfg, err := config.Load(path, environ)
	if err != nil {
		d.log.Error().Err(err).Msg("reload refused: configuration invalid")
		return
	}
	ircCfg, err := ircdConfig(cfg)
	if err != nil {
		d.log.Error().Err(err).Msg("reload refused")
		return
	}
	changed := d.srv.Reload(ircCfg)
	if len(d.cfg.Server.TLSListen) > 0 {
		// Validation in config.Load has just read the files; a renewed pair takes effect for
		// new connections.
		cert, err := cfg.TLSCertificate()
		if err != nil {
			d.log.Error().Err(err).Msg("reload: TLS certificate not replaced")
		} else if old := d.tlsCert.Swap(cert); !bytes.Equal(old.Certificate[0], cert.Certificate[0]) {
			changed = append(changed, "tls certificate")
		}
	}
	if fmt.Sprint(cfg.Server.Listen, cfg.Server.TLSListen, cfg.Directus, cfg.Channel.Name, cfg.Login) !=
		fmt.Sprint(d.cfg.Server.Listen, d.cfg.Server.TLSListen, d.cfg.Directus, d.cfg.Channel.Name, d.cfg.Login) {
		d.log.Warn().Msg("reload: listen addresses, channel name, directus and login settings take effect only after a restart")
	}
	d.log.Info().Strs("changed", changed).Msg("configuration reloaded")
}

func (d *daemon) startHealth(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("health listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.bridge.Ready() {
			http.Error(w, "directus unreachable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", metrics.Handler(d.reg))
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

func ircdConfig(c config.Config) (ircd.Config, error) {
	motd, err := c.MOTDLines()
	if err != nil {
		return ircd.Config{}, err
	}
	return ircd.Config{
		ServerName: c.Server.Name, Network: c.Server.Network,
		Channel: c.Channel.Name, Topic: c.Channel.Topic, MOTD: motd,
		Version: version.Get().IRC(), DefaultHost: "directus",
		AutoJoin:   c.Channel.AutoJoin,
		MaxClients: c.Server.MaxClients, MaxClientsPerIP: c.Server.MaxClientsPerIP,
		RegistrationTimeout: c.Server.RegistrationTimeout,
		PingInterval:        c.Server.PingInterval, PingTimeout: c.Server.PingTimeout,
		SendQueueLen: c.Server.SendQueue, FloodRate: c.Server.FloodRate, FloodBurst: c.Server.FloodBurst,
	}, nil
}

func bridgeConfig(c config.Config) bridge.Config {
	return bridge.Config{
		Collection: c.Directus.Collection, History: c.Channel.History,
		EmailDomain: c.Login.EmailDomain, ServerPassword: c.Login.ServerPassword,
		ServiceToken: c.Directus.Token,
		Guests:       c.Login.Guests, GuestsMayPost: c.Login.GuestsMayPost, GuestSuffix: c.Login.GuestSuffix,
		FailuresPerAddress: c.Login.FailuresPerAddress, FailuresPerAccount: c.Login.FailuresPerAccount,
		FailureWindow: c.Login.FailureWindow, RevocationCheck: c.Login.RevocationCheck,
		QueuePerUser: c.Queue.PerUser, QueueTotal: c.Queue.Total, QueueMaxWait: c.Queue.MaxWait,
		RequestTimeout: c.Directus.RequestTimeout,
	}
}
