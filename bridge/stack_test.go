package bridge_test

import (
	"context"
	"encoding/json"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/directus-ircd/directus-ircd/bridge"
	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/internal/config"
	"github.com/directus-ircd/directus-ircd/internal/daemon"
	"github.com/directus-ircd/directus-ircd/internal/dtest"
	"github.com/directus-ircd/directus-ircd/internal/provision"
)

const channel = "#chat"

// stack is a real Directus with the bridge's schema, and the daemon (internal/daemon, the
// same wiring and start/stop order as the binary) on a loopback port in front of it.
type stack struct {
	t    *testing.T
	dx   *dtest.Instance
	res  provision.Result
	dc   *directus.Client // the tests' own client (web users, admin requests)
	cfg  config.Config
	opts daemon.Options

	d *running
}

// running is a started daemon.
type running struct {
	*daemon.Daemon
	addr string // the IRC listener
}

func (r *running) srv() interface{ ClientCount() int } { return r.Server() }

// testConfig is the daemon's configuration for a test: generous limits, short waits.
func testConfig(url, token string) config.Config {
	c := config.Default()
	c.Server.Listen = []string{"127.0.0.1:0"}
	c.Server.MaxClients, c.Server.MaxClientsPerIP = 1000, 1000
	c.Server.RegistrationTimeout, c.Server.PingInterval, c.Server.PingTimeout = 30*time.Second, time.Minute, time.Minute
	c.Server.SendQueue, c.Server.FloodRate, c.Server.FloodBurst = 4096, 1000, 1000
	c.Server.ShutdownTimeout = 20 * time.Second
	c.Server.Name, c.Server.Network = "irc.test", "Test"
	c.Channel.Topic = "test topic"
	c.Directus.URL, c.Directus.Token = url, token
	c.Directus.RequestTimeout = 10 * time.Second
	c.Login.FailuresPerAddress, c.Login.FailureWindow = 50, time.Minute
	c.Queue.PerUser, c.Queue.Total, c.Queue.MaxWait = 20, 100, time.Minute
	c.Log.Level = "warn"
	return c
}

func newStack(t *testing.T, env map[string]string, tweak func(*config.Config)) *stack {
	t.Helper()
	s := provisioned(t, env)
	if tweak != nil {
		tweak(&s.cfg)
	}
	s.start()
	return s
}

// provisioned starts a Directus set up for the bridge; the daemon is not started yet.
func provisioned(t *testing.T, env map[string]string) *stack {
	t.Helper()
	dx, res := dtest.StartProvisioned(t, dtest.Options{Env: env})
	dc, err := directus.New(directus.Config{URL: dx.URL, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return &stack{t: t, dx: dx, res: res, dc: dc, cfg: testConfig(dx.URL, res.BridgeToken)}
}

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

// start runs the daemon and waits until its subscription is live.
func (s *stack) start() {
	s.t.Helper()
	s.launch()
	waitState(s.t, s.d.Bridge(), bridge.StateReady, 60*time.Second)
}

// launch runs the daemon without waiting for its subscription.
func (s *stack) launch() {
	t := s.t
	t.Helper()
	d, err := daemon.New(s.cfg, testLogger(t), s.opts)
	if err != nil {
		t.Fatalf("daemon: %v", err)
	}
	s.d = &running{Daemon: d, addr: d.Addrs()[0].String()}
	t.Cleanup(func() { s.stopDaemon() })
}

// waitState waits until the bridge is in state want and returns the status.
func waitState(t *testing.T, br *bridge.Bridge, want bridge.State, timeout time.Duration) bridge.Status {
	t.Helper()
	deadline := time.After(timeout)
	for {
		changed := br.StatusChanged()
		if st := br.Status(); st.State == want {
			return st
		}
		select {
		case <-changed:
		case <-deadline:
			st := br.Status()
			t.Fatalf("bridge state %q (%v) after %s, want %q", st.State, st.Err, timeout, want)
		}
	}
}

// stopDaemon shuts the daemon down as SIGTERM does (daemon.Shutdown).
func (s *stack) stopDaemon() {
	d := s.d
	if d == nil {
		return
	}
	s.d = nil
	if err := d.Shutdown(); err != nil {
		var buf strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
		s.t.Errorf("shutdown: %v\n%s", err, buf.String())
	}
}

// waitFor polls a condition that has no event to wait on (readiness of a background loop).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// webUser is a client doing exactly what the chat guide's page does over the WebSocket API.
type webUser struct {
	t      *testing.T
	conn   *directus.Conn
	events <-chan directus.Event
}

func (s *stack) web(email, password string) *webUser {
	t := s.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := s.dc.Dial(ctx, directus.Credentials{Email: email, Password: password})
	if err != nil {
		t.Fatalf("web login %s: %v", email, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	sub, err := conn.Subscribe(ctx, "messages", directus.Query{Fields: []string{"*", "user_created.first_name"}, Sort: []string{"date_created"}})
	if err != nil {
		t.Fatalf("web subscribe: %v", err)
	}
	w := &webUser{t: t, conn: conn, events: sub.Events()}
	w.next(directus.EventInit)
	return w
}

func (w *webUser) send(text string) string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	raw, err := w.conn.Create(ctx, "messages", map[string]any{"text": text}, nil)
	if err != nil {
		w.t.Fatalf("web create: %v", err)
	}
	id, err := directus.ItemID(raw)
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

func (w *webUser) next(kind directus.EventKind) directus.Event {
	w.t.Helper()
	for {
		select {
		case e, ok := <-w.events:
			if !ok {
				w.t.Fatalf("web subscription closed")
			}
			if e.Kind == kind {
				return e
			}
		case <-time.After(20 * time.Second):
			w.t.Fatalf("web: no %v event", kind)
		}
	}
}

// created waits for the create event of an item with this text and returns the item.
func (w *webUser) created(text string) map[string]any {
	w.t.Helper()
	for {
		e := w.next(directus.EventCreate)
		var it map[string]any
		if err := json.Unmarshal(e.Items[0], &it); err != nil {
			w.t.Fatal(err)
		}
		if it["text"] == text {
			return it
		}
	}
}
