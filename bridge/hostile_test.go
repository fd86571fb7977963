package bridge_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/directus-ircd/directus-ircd/internal/config"
	"github.com/directus-ircd/directus-ircd/internal/irctest"
)

// restUser creates items over Directus's REST API, as a script or another app would.
type restUser struct {
	t     *testing.T
	s     *stack
	token string
}

func (s *stack) rest(email, password string) *restUser {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := s.dc.Login(ctx, email, password)
	if err != nil {
		s.t.Fatalf("REST login %s: %v", email, err)
	}
	return &restUser{t: s.t, s: s, token: tok.Access}
}

func (u *restUser) create(body map[string]any) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := u.s.dc.Do(ctx, u.token, http.MethodPost, "/items/messages", body, nil); err != nil {
		u.t.Fatalf("REST create: %v", err)
	}
}

// privmsgs reads the next n PRIVMSGs to the channel.
func privmsgs(c *irctest.Client, n int) []ircmsg.Message {
	out := make([]ircmsg.Message, n)
	for i := range out {
		out[i] = c.ExpectFunc("PRIVMSG "+strconv.Itoa(i+1)+" of "+strconv.Itoa(n), func(m ircmsg.Message) bool {
			return m.Command == "PRIVMSG" && m.Params[0] == channel
		})
	}
	return out
}

func numberedLines(n int) string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = "line " + strconv.Itoa(i+1)
	}
	return strings.Join(lines, "\n")
}

// cutNote is the last line of a cut message (after the time prefix of a replayed line for a
// client without server-time).
var cutNote = regexp.MustCompile(`^(\[[-0-9: ]+\] )?\[(\d+) more lines not shown; read the whole message on the web page\]$`)

// expectCut reads count messages of Carol's, each cut to 20 lines ending in the note, then
// the marker that Carol sent after them: nothing arrived twice.
func expectCut(t *testing.T, c *irctest.Client, count int, first, marker string) {
	t.Helper()
	got := privmsgs(c, count*20)
	for i := range count {
		one := got[i*20 : (i+1)*20]
		if from(one[0]) != "Carol" || !strings.HasPrefix(text(one[0]), first) {
			t.Fatalf("%s: message %d starts %q from %q", c.Nick, i, text(one[0]), from(one[0]))
		}
		if !cutNote.MatchString(text(one[19])) {
			t.Fatalf("%s: message %d ends %q, want the cut note", c.Nick, i, text(one[19]))
		}
	}
	expectPrivmsg(t, c, "Carol", marker)
}

// Hostile items reach every joined client cut to channel.max_lines, once, and disconnect
// nobody; a user cannot speak under another name with irc_nick.
func TestHostileItems(t *testing.T) {
	s := provisioned(t, nil)
	s.cfg.Server.SendQueue = 1024 // the default
	s.start()
	alice := login(t, s, "a", "alice", "alicepass")
	bob := login(t, s, "b", "bob", "bobpass")
	carol := s.rest("carol@example.com", "carolpass")
	clients := []*irctest.Client{alice, bob}

	t.Run("1,100 lines", func(t *testing.T) {
		carol.create(map[string]any{"text": numberedLines(1100)})
		carol.create(map[string]any{"text": "after 1,100 lines"})
		for _, c := range clients {
			expectCut(t, c, 1, "line 1", "after 1,100 lines")
		}
	})
	t.Run("100 KB line", func(t *testing.T) {
		carol.create(map[string]any{"text": strings.Repeat("word ", 20000)})
		carol.create(map[string]any{"text": "after 100 KB"})
		for _, c := range clients {
			expectCut(t, c, 1, "word word", "after 100 KB")
		}
	})
	t.Run("50 long items in a row", func(t *testing.T) {
		for range 50 {
			carol.create(map[string]any{"text": numberedLines(1100)})
		}
		carol.create(map[string]any{"text": "after 50"})
		for _, c := range clients {
			expectCut(t, c, 50, "line 1", "after 50")
		}
	})
	t.Run("JOIN replay is cut too", func(t *testing.T) {
		dave := irctest.Dial(t, s.d.addr)
		dave.RegisterPass("d", "carol:carolpass")
		hist := irctest.Privmsgs(dave.Join(channel), channel)
		notes := 0
		for _, m := range hist {
			if cutNote.MatchString(text(m)) {
				notes++
			}
		}
		// 50 history items: the 100 KB line is older than the window, the 50 are in it.
		if notes != 49 || len(hist) != 49*20+1 {
			t.Fatalf("replay: %d lines, %d cut notes", len(hist), notes)
		}
	})
	t.Run("irc_nick from a user is ignored", func(t *testing.T) {
		alice := s.rest("alice@example.com", "alicepass")
		alice.create(map[string]any{"text": "I am Bob", "irc_nick": "Bob"})
		m := expectPrivmsg(t, bob, "Alice", "I am Bob")
		if !strings.HasSuffix(m.Source, "@directus") {
			t.Errorf("source %q, want Alice's account host", m.Source)
		}
		// Naming the service user as author does not help: Directus sets user_created.
		me, err := s.dc.Me(t.Context(), s.res.BridgeToken)
		if err != nil {
			t.Fatal(err)
		}
		alice.create(map[string]any{"text": "I am Bob, really", "irc_nick": "Bob", "user_created": me.ID})
		expectPrivmsg(t, bob, "Alice", "I am Bob, really")
	})
	t.Run("channel NOTICE stays NOTICE", func(t *testing.T) {
		alice.Send("NOTICE", channel, "automated: do not answer")
		m := bob.ExpectFunc("NOTICE from Alice", func(m ircmsg.Message) bool { return m.Command == "NOTICE" && from(m) == "Alice" })
		if m.Params[0] != channel || text(m) != "automated: do not answer" {
			t.Fatalf("bob got %v", m)
		}
	})
	for _, c := range clients {
		c.Sync() // still connected
	}
}

// With login.guest_suffix empty, guests keep their nick, marked by the host "guest" and no
// account; they cannot take a Directus user's nick, and their posts show under their nick.
func TestGuestsWithoutSuffix(t *testing.T) {
	s := newStack(t, nil, func(c *config.Config) { c.Login.Guests, c.Login.GuestsMayPost, c.Login.GuestSuffix = true, true, "" })
	alice := login(t, s, "a", "alice", "alicepass")
	guest := irctest.Dial(t, s.d.addr)
	guest.Send("NICK", "Alice")
	guest.Send("USER", "u", "0", "*", "Guest")
	if m := guest.Expect("432"); !strings.Contains(text(m), "belongs to a Directus user") {
		t.Fatalf("432 = %q", text(m))
	}
	guest.Send("NICK", "dan")
	guest.Expect("001")
	guest.Join(channel)
	guest.Send("NICK", "bob")
	if m := guest.Expect("432"); m.Params[1] != "bob" {
		t.Fatalf("432 for %q", m.Params)
	}
	guest.Send("PRIVMSG", channel, "hello as a plain guest")
	m := expectPrivmsg(t, alice, "dan", "hello as a plain guest")
	if !strings.HasSuffix(m.Source, "@guest") {
		t.Fatalf("guest source %q, want host guest", m.Source)
	}
}
