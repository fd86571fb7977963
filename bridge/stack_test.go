package bridge

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/internal/dtest"
	"github.com/directus-ircd/directus-ircd/internal/provision"
	"github.com/directus-ircd/directus-ircd/ircd"
)

const channel = "#chat"

// stack is a real Directus with the bridge's schema, and a daemon (IRC server + bridge) on
// a loopback port in front of it.
type stack struct {
	t   *testing.T
	dx  *dtest.Instance
	res provision.Result
	dc  *directus.Client
	cfg Config
	// sendQueue is the IRC server's per-connection queue (lines).
	sendQueue int
	// ircdMetrics, when set, are the IRC server's metrics.
	ircdMetrics *ircd.Metrics

	d *daemon
}

type daemon struct {
	srv    *ircd.Server
	br     *Bridge
	addr   string
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func testConfig(token string) Config {
	return Config{
		Collection: "messages", History: 50, EmailDomain: "example.com", ServiceToken: token,
		GuestSuffix: "|guest", FailuresPerAddress: 50, FailuresPerAccount: 5, FailureWindow: time.Minute,
		RevocationCheck: time.Minute, QueuePerUser: 20, QueueTotal: 100, QueueMaxWait: time.Minute,
		RequestTimeout: 10 * time.Second,
	}
}

func newStack(t *testing.T, env map[string]string, tweak func(*Config)) *stack {
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
	return &stack{t: t, dx: dx, res: res, dc: dc, cfg: testConfig(res.BridgeToken), sendQueue: 4096}
}

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

// start runs a daemon and waits until its subscription is live.
func (s *stack) start() {
	t := s.t
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	br := New(s.cfg, s.dc, testLogger(t))
	srv := ircd.NewServer(ircd.Config{
		ServerName: "irc.test", Network: "Test", Channel: channel, Topic: "test topic",
		Version: "test", DefaultHost: "directus", MaxClients: 1000, MaxClientsPerIP: 1000,
		RegistrationTimeout: 30 * time.Second, PingInterval: time.Minute, PingTimeout: time.Minute,
		SendQueueLen: s.sendQueue, FloodRate: 1000, FloodBurst: 1000, Metrics: s.ircdMetrics,
	}, br, testLogger(t))
	br.Attach(srv)
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{srv: srv, br: br, addr: ln.Addr().String(), cancel: cancel}
	d.wg.Add(2)
	go func() { defer d.wg.Done(); _ = br.Run(ctx) }()
	go func() { defer d.wg.Done(); _ = srv.Serve(ctx, ln) }()
	s.d = d
	t.Cleanup(func() { s.stopDaemon() })
	waitFor(t, "bridge ready", br.Ready)
}

// stopDaemon shuts the daemon down the way SIGTERM does.
func (s *stack) stopDaemon() {
	d := s.d
	if d == nil {
		return
	}
	s.d = nil
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d.br.Drain(ctx)
	_ = d.srv.Shutdown(ctx)
	d.cancel()
	d.wg.Wait()
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
