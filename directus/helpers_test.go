package directus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/internal/dtest"
	"github.com/rs/zerolog"
)

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// logBuffer collects log lines (safe for concurrent writers).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newClient returns a client for in that logs at debug level into the test
// log (when -v) and at trace level into the returned buffer.
func newClient(t *testing.T, in *dtest.Instance, tune func(*directus.Config)) (*directus.Client, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	w := zerolog.MultiLevelWriter(logs, zerolog.ConsoleWriter{Out: tlog{t}, NoColor: true})
	cfg := directus.Config{URL: in.URL, Logger: zerolog.New(w).Level(zerolog.TraceLevel).With().Timestamp().Logger(),
		ReconnectMax: 2 * time.Second}
	if tune != nil {
		tune(&cfg)
	}
	c, err := directus.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, logs
}

// tlog writes to the test log; after the test ended it drops lines.
type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) {
	defer func() { _ = recover() }() // "Log in goroutine after Test has completed"
	if testing.Verbose() {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func dial(t *testing.T, c *directus.Client, cred directus.Credentials) *directus.Conn {
	t.Helper()
	k, err := c.Dial(testContext(t, time.Minute), cred)
	if err != nil {
		t.Fatalf("dial %v: %v", cred, err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

var (
	alice = directus.Credentials{Email: dtest.AliceEmail, Password: dtest.AlicePassword}
	bob   = directus.Credentials{Email: dtest.BobEmail, Password: dtest.BobPassword}
)

func admin(t *testing.T, in *dtest.Instance) directus.Credentials {
	return directus.Credentials{AccessToken: in.AdminToken(t)}
}

// adminDo is an admin REST call.
func adminDo(t *testing.T, c *directus.Client, in *dtest.Instance, method, path string, body, out any) {
	t.Helper()
	if err := c.Do(context.Background(), in.AdminToken(t), method, path, body, out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

type message struct {
	ID          json.Number `json:"id"`
	Text        string      `json:"text"`
	IRCKey      *string     `json:"irc_key"`
	UserCreated any         `json:"user_created"`
}

func decode[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// firstName returns user_created.first_name of a message read with it.
func firstName(m message) string {
	if u, ok := m.UserCreated.(map[string]any); ok {
		s, _ := u["first_name"].(string)
		return s
	}
	return ""
}

// nextEvent waits for the next event of s.
func nextEvent(t *testing.T, s *directus.Subscription) directus.Event {
	t.Helper()
	select {
	case e, ok := <-s.Events():
		if !ok {
			t.Fatalf("subscription ended: %v", s.Err())
		}
		return e
	case <-time.After(20 * time.Second):
		t.Fatal("no event within 20 s")
	}
	return directus.Event{}
}

func get(t *testing.T, c *directus.Client, in *dtest.Instance, path string) json.RawMessage {
	t.Helper()
	var out json.RawMessage
	adminDo(t, c, in, http.MethodGet, path, nil, &out)
	return out
}
