package bridge

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
)

func TestSanitizeNick(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Alice", "Alice"},
		{"Zoë Anne", "ZoeAnne"},
		{"José-María", "Jose-Maria"},
		{"  ", ""},
		{"42 Bob", "Bob"},
		{"a|b", "ab"},
		{"Ωmega", "mega"},
		{"averyveryverylongfirstnamethatgoesonandon", "averyveryverylongfirstna"},
		{"日本", ""},
	}
	for _, tt := range tests {
		if got := sanitizeNick(tt.in); got != tt.want {
			t.Errorf("sanitizeNick(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDirectoryNicksAreUniqueAndNobodyIsRenamed(t *testing.T) {
	d := newDirectory("example.com")
	d.replace([]user{
		{ID: "b0000000-0000", FirstName: "Alice", Email: "alice2@example.com"},
		{ID: "a0000000-0000", FirstName: "Alice", Email: "alice@example.com"},
		{ID: "c0000000-0000", FirstName: "", Email: "x@other.org"},
		{ID: "d0000000-0000", FirstName: "Bob"},
	})
	want := map[string]string{"a0000000-0000": "Alice", "b0000000-0000": "Alice-b00000", "c0000000-0000": "user-c00000", "d0000000-0000": "Bob"}
	for id, nick := range want {
		if got, _ := d.nick(id); got != nick {
			t.Errorf("nick(%s) = %q, want %q", id, got, nick)
		}
	}
	// A namesake who appears later, even with a smaller id, renames nobody.
	d.learn(user{ID: "00000000-0000", FirstName: "Alice", Email: "alice0@example.com"})
	want["00000000-0000"] = "Alice-000000"
	for id, nick := range want {
		if got, _ := d.nick(id); got != nick {
			t.Errorf("after a new namesake, nick(%s) = %q, want %q", id, got, nick)
		}
	}
	// The next user sweep (a full list) keeps everyone's nick too.
	var all []user
	for id := range want {
		u, _ := d.get(id)
		all = append(all, u)
	}
	d.replace(all)
	for id, nick := range want {
		if got, _ := d.nick(id); got != nick {
			t.Errorf("after a sweep, nick(%s) = %q, want %q", id, got, nick)
		}
	}
	// A fresh directory (a restart) orders namesakes by id again.
	d2 := newDirectory("example.com")
	d2.replace(all)
	if got, _ := d2.nick("00000000-0000"); got != "Alice" {
		t.Errorf("after a restart, the smallest id has %q, want Alice", got)
	}
	// A changed first name gives a new nick.
	d.learn(user{ID: "b0000000-0000", FirstName: "Beth", Email: "alice2@example.com"})
	if got, _ := d.nick("b0000000-0000"); got != "Beth" {
		t.Errorf("after a rename, nick = %q, want Beth", got)
	}
	if got := d.account("Alice@Example.com"); got != "alice" {
		t.Errorf("account = %q", got)
	}
	if got := d.account("x@other.org"); got != "x@other.org" {
		t.Errorf("account = %q", got)
	}
	if got := d.loginEmail("alice"); got != "alice@example.com" {
		t.Errorf("loginEmail = %q", got)
	}
}

func TestDecodeItemShapes(t *testing.T) {
	tests := []struct {
		raw              string
		id, author, text string
	}{
		{`{"id":12,"text":"hi","user_created":{"id":"u1","first_name":"Alice"},"date_created":"2026-11-28T13:00:21.066Z"}`, "12", "u1", "hi"},
		{`{"id":"13","text":null,"user_created":"u2"}`, "13", "u2", ""},
		{`{"id":14,"text":"x","user_created":null}`, "14", "", "x"},
	}
	for _, tt := range tests {
		it, err := decodeItem(json.RawMessage(tt.raw))
		if err != nil || it.ID != tt.id || it.Author.ID != tt.author || it.Text != tt.text {
			t.Errorf("decodeItem(%s) = %+v, %v", tt.raw, it, err)
		}
	}
	if _, err := decodeItem(json.RawMessage(`{"text":"no id"}`)); err == nil {
		t.Error("an item without id decoded")
	}
	if !idLess("9", "10") || idLess("10", "9") || !idLess("a", "b") {
		t.Error("idLess orders ids wrongly")
	}
}

func BenchmarkDecodeItem(b *testing.B) {
	raw := json.RawMessage(`{"id":123456,"text":"hello there, this is a typical chat line of moderate length","date_created":"2026-11-28T13:00:21.066Z","irc_nick":null,"irc_key":"0123456789abcdef0123456789abcdef","user_created":{"id":"04a5d8a4-4e5e-4c58-8e19-71fa549a24c2","first_name":"Alice","email":"alice@example.com"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeItem(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStateOfStreamErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want State
	}{
		{&directus.Error{Op: "ws auth", Code: "AUTH_FAILED"}, StateTokenRejected},
		{&directus.Error{Op: "ws dial", Status: http.StatusUnauthorized}, StateTokenRejected},
		{&directus.Error{Op: "ws dial", Status: http.StatusNotFound, Err: directus.ErrWebSocketsDisabled}, StateWebSocketsDisabled},
		{&directus.Error{Op: "ws dial", Err: directus.ErrUnreachable}, StateUnreachable},
		{&directus.Error{Op: "ws read", Err: directus.ErrDisconnected}, StateUnreachable},
		{errors.New("back-fill: something else"), StateUnreachable},
	} {
		if got := stateOf(tc.err); got != tc.want {
			t.Errorf("stateOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// fills is a queueFiller that reports a scripted sequence of fills (the last one repeats).
type fills struct {
	Server
	mu  sync.Mutex
	seq []float64
}

func (f *fills) SendQueueFill() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.seq[0]
	if len(f.seq) > 1 {
		f.seq = f.seq[1:]
	}
	return v
}

func TestPacerWaitsForQueuesButNotForAStuckClient(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fills    []float64
		wantWait bool
		stuck    bool // the queue never drains: the next wait returns at once
	}{
		{"room: no wait", []float64{0.2}, false, false},
		{"full: waits until drained", []float64{0.9, 0.8, 0.7, 0.6, 0.4}, true, false},
		{"stuck: gives up", []float64{0.9}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pacer{stall: 50 * time.Millisecond}
			f := &fills{seq: tc.fills}
			if err := p.wait(t.Context(), f); err != nil {
				t.Fatal(err)
			}
			if (p.waited > 0) != tc.wantWait {
				t.Errorf("waited %s, want a wait: %v", p.waited, tc.wantWait)
			}
			if left := f.SendQueueFill(); left > paceFill && !p.stalled {
				t.Errorf("returned with the queue at %.0f%% and not stalled", 100*left)
			}
			if tc.stuck {
				before := p.waited
				if err := p.wait(t.Context(), f); err != nil || p.waited != before {
					t.Errorf("waited again for a stuck client (%s, %v)", p.waited-before, err)
				}
			}
		})
	}
}
