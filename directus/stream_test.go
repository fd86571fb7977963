package directus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/internal/dtest"
)

// TestFaults runs the fault-injection tests against one instance: a hung
// Directus (SIGSTOP) and a killed one (SIGKILL) during a RunStream.
func TestFaults(t *testing.T) {
	in, res := dtest.StartProvisioned(t, dtest.Options{})
	t.Run("heartbeat timeout", func(t *testing.T) { testHeartbeatTimeout(t, in) })
	t.Run("stream survives kill and restart", func(t *testing.T) { testStreamRestart(t, in, res.BridgeToken) })
}

// testHeartbeatTimeout: a silent server is detected; the pending request fails.
func testHeartbeatTimeout(t *testing.T, in *dtest.Instance) {
	c, _ := newClient(t, in, func(cfg *directus.Config) {
		cfg.HeartbeatTimeout, cfg.PingInterval = 2*time.Second, 500*time.Millisecond
	})
	k := dial(t, c, alice)
	in.Pause(t)
	defer in.Resume(t)
	errc := make(chan error, 1)
	go func() {
		_, err := k.Read(testContext(t, time.Minute), "messages", directus.Query{})
		errc <- err
	}()
	select {
	case <-k.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("silent server not detected within 10 s")
	}
	if err := k.Err(); !errors.Is(err, directus.ErrUnreachable) || !strings.Contains(err.Error(), "heartbeat timeout") {
		t.Fatalf("conn ended with %v", err)
	}
	if err := <-errc; !errors.Is(err, directus.ErrDisconnected) || !errors.Is(err, directus.ErrUnreachable) {
		t.Fatalf("pending request: %v", err)
	}
}

// recorder is a StreamHandler that back-fills by id and records every id,
// with where it came from.
type recorder struct {
	mu       sync.Mutex
	seen     map[string]string // id → "backfill" or "live"
	lastID   int
	backfill []error
	updates  chan struct{}
	conns    chan int   // Connected: the number of back-filled items
	drops    chan error // Disconnected
	release  chan struct{}
}

func newRecorder() *recorder {
	return &recorder{seen: map[string]string{}, updates: make(chan struct{}, 1),
		conns: make(chan int, 10), drops: make(chan error, 10), release: make(chan struct{}, 10)}
}

func (r *recorder) Connected(ctx context.Context, k *directus.Conn, init directus.Event) error {
	r.mu.Lock()
	last := r.lastID
	r.mu.Unlock()
	items, err := k.Read(ctx, "messages", directus.Query{Fields: []string{"id"}, Sort: []string{"id"}, Limit: new(-1),
		Filter: map[string]any{"id": map[string]any{"_gt": last}}})
	if err != nil {
		return err
	}
	r.record("backfill", items)
	r.conns <- len(items)
	return nil
}

func (r *recorder) Event(e directus.Event) {
	if e.Kind == directus.EventCreate {
		r.record("live", e.Items)
	}
}

// Disconnected blocks until the test releases it, so that the test controls
// when RunStream reconnects.
func (r *recorder) Disconnected(err error) {
	r.drops <- err
	<-r.release
}

func (r *recorder) record(source string, items []json.RawMessage) {
	r.mu.Lock()
	for _, raw := range items {
		id, _ := directus.ItemID(raw)
		if _, dup := r.seen[id]; !dup {
			r.seen[id] = source
		}
		var n int
		fmt.Sscan(id, &n)
		r.lastID = max(r.lastID, n)
	}
	r.mu.Unlock()
	select {
	case r.updates <- struct{}{}:
	default:
	}
}

func (r *recorder) waitFor(t *testing.T, ids []string) map[string]string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		missing := 0
		for _, id := range ids {
			if r.seen[id] == "" {
				missing++
			}
		}
		snapshot := maps.Clone(r.seen)
		r.mu.Unlock()
		if missing == 0 {
			return snapshot
		}
		select {
		case <-r.updates:
		case <-deadline:
			t.Fatalf("%d of %d ids not delivered: have %v", missing, len(ids), snapshot)
		}
	}
}

func testStreamRestart(t *testing.T, in *dtest.Instance, bridgeToken string) {
	c, _ := newClient(t, in, func(cfg *directus.Config) { cfg.ReconnectMin, cfg.ReconnectMax = 100*time.Millisecond, time.Second })
	ctx, cancel := context.WithCancel(testContext(t, 3*time.Minute))
	tok, err := c.Login(ctx, dtest.AliceEmail, dtest.AlicePassword)
	if err != nil {
		t.Fatal(err)
	}
	create := func(label string, n int) []string {
		var ids []string
		for i := range n {
			raw, err := c.CreateItem(ctx, tok.Access, "messages", map[string]any{"text": fmt.Sprint(label, i)}, []string{"id"})
			if err != nil {
				t.Fatalf("create %s: %v", label, err)
			}
			id, _ := directus.ItemID(raw)
			ids = append(ids, id)
		}
		return ids
	}
	before := create("before stream ", 3) // history: the first back-fill
	r := newRecorder()
	done := make(chan error, 1)
	go func() {
		done <- c.RunStream(ctx, directus.Credentials{StaticToken: bridgeToken}, "messages", directus.Query{Fields: []string{"id"}, Limit: new(0)}, r)
	}()
	if n := <-r.conns; n < 3 {
		t.Fatalf("first back-fill returned %d items", n)
	}
	live := create("live ", 5)
	r.waitFor(t, append(before, live...))

	// A request in flight when Directus dies fails with ErrDisconnected.
	kx := dial(t, c, alice)
	in.Pause(t)
	errc := make(chan error, 1)
	go func() { _, err := kx.Read(ctx, "messages", directus.Query{}); errc <- err }()
	in.Kill(t)
	if err := <-errc; !errors.Is(err, directus.ErrDisconnected) {
		t.Fatalf("in-flight request at kill: %v", err)
	}
	t.Logf("stream dropped: %v", <-r.drops)

	in.Restart(t)
	during := create("while the stream was down ", 5) // Disconnected still blocks, so RunStream is not connected yet
	r.release <- struct{}{}
	if n := <-r.conns; n < len(during) {
		t.Fatalf("back-fill after restart returned %d items, want ≥ %d", n, len(during))
	}
	after := create("after reconnect ", 5)
	all := append(append(append(before, live...), during...), after...)
	seen := r.waitFor(t, all)

	counts := map[string]int{}
	for _, id := range all {
		counts[seen[id]]++
	}
	for _, id := range during {
		if seen[id] != "backfill" {
			t.Errorf("id %s created while down arrived %s, want backfill", id, seen[id])
		}
	}
	t.Logf("created %d: %d via back-fill, %d live", len(all), counts["backfill"], counts["live"])
	cancel()
	r.release <- struct{}{}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("RunStream returned %v", err)
	}
}
