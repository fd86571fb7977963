package directus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestNewDerivesWebSocketURL(t *testing.T) {
	tests := map[string]string{
		"http://127.0.0.1:8055":            "ws://127.0.0.1:8055/websocket",
		"http://127.0.0.1:8055/":           "ws://127.0.0.1:8055/websocket",
		"https://example.com/directus/":    "wss://example.com/directus/websocket",
		"  https://example.com:8443/a/b  ": "wss://example.com:8443/a/b/websocket",
	}
	for in, want := range tests {
		c, err := New(Config{URL: in})
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if c.WebSocketURL() != want {
			t.Errorf("%q: %q, want %q", in, c.WebSocketURL(), want)
		}
	}
	for _, bad := range []string{"", "ftp://x", "127.0.0.1:8055", "http://", "http://u:p@host", "http://host/?x=1", "http://host/#f"} {
		if _, err := New(Config{URL: bad}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestNewCAFile(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{empty, filepath.Join(dir, "missing.pem")} {
		if _, err := New(Config{URL: "https://example.com", CAFile: f}); err == nil {
			t.Errorf("%s: no error", f)
		}
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{min: 100, max: 1000}
	var steps []int64
	for range 6 {
		d := b.next()
		if d < b.cur/2 || d > b.cur {
			t.Fatalf("delay %d outside [%d, %d]", d, b.cur/2, b.cur)
		}
		steps = append(steps, int64(b.cur))
	}
	if steps[0] != 100 || steps[1] != 200 || steps[4] != 1000 || steps[5] != 1000 {
		t.Fatalf("steps %v", steps)
	}
	b.reset()
	if b.next(); b.cur != 100 {
		t.Fatalf("after reset: %d", b.cur)
	}
}

func TestRetrierDelays(t *testing.T) {
	cfg := withDefaults(Config{ReconnectMin: 100, ReconnectMax: 1000, RefusedRetry: 30000})
	unreachableErr := unreachable("ws dial", errors.New("connection refused"))
	dropped := &Error{Op: "ws read", Err: fmt.Errorf("%w: connection closed (code 1006)", ErrDisconnected)}
	rejected := &Error{Op: "ws auth", Code: "AUTH_FAILED"}
	noWS := &Error{Op: "ws dial", Status: 404, Err: ErrWebSocketsDisabled}
	type step struct {
		connected bool
		err       error
		min, max  time.Duration
		probe     bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"unreachable: backoff up to the cap, probing", []step{
			{true, dropped, 50, 100, true}, {false, unreachableErr, 100, 200, true}, {false, unreachableErr, 200, 400, true},
			{false, unreachableErr, 400, 800, true}, {false, unreachableErr, 500, 1000, true}, {false, unreachableErr, 500, 1000, true},
		}},
		{"a connect resets the backoff", []step{
			{false, unreachableErr, 50, 100, true}, {false, unreachableErr, 100, 200, true}, {true, dropped, 50, 100, true},
		}},
		{"rejected token: once as usual, then slowly, no probing", []step{
			{true, rejected, 50, 100, false}, {false, rejected, 15000, 30000, false}, {false, rejected, 15000, 30000, false},
		}},
		{"websockets disabled: the same", []step{
			{false, noWS, 50, 100, false}, {false, noWS, 15000, 30000, false},
		}},
		{"a connect forgets earlier refusals", []step{
			{false, rejected, 50, 100, false}, {true, rejected, 50, 100, false}, {false, rejected, 15000, 30000, false},
		}},
		{"a refusal that clears goes back to the backoff", []step{
			{false, noWS, 50, 100, false}, {false, noWS, 15000, 30000, false}, {false, unreachableErr, 100, 200, true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := retrier{cfg: &cfg, b: backoff{min: cfg.ReconnectMin, max: cfg.ReconnectMax}}
			for i, s := range tc.steps {
				d, probe := r.next(s.connected, s.err)
				if d < s.min || d > s.max || probe != s.probe {
					t.Errorf("step %d (%v): delay %d probe %v, want %d–%d probe %v", i, s.err, d, probe, s.min, s.max, s.probe)
				}
			}
		})
	}
}
