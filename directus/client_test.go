package directus

import (
	"os"
	"path/filepath"
	"testing"
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
