package ircd

import (
	"slices"
	"strings"
	"testing"
)

// TestMultiConnectionAccount: two connections of account alice share the nick Alice.
func TestMultiConnectionAccount(t *testing.T) {
	e := newTestEnv(t, nil)
	bob := e.dial()
	bob.register("b", "PASS bob:builder")
	bob.joinChannel()

	a1 := e.dial()
	a1.registerSASL("a", "alice", "wonderland")
	a1.joinChannel()
	bob.expect("JOIN")

	a2 := e.dial()
	a2.register("Alice", "PASS alice:wonderland")
	if a2.nick != "Alice" {
		t.Fatalf("second connection nick %q", a2.nick)
	}
	names := a2.joinChannel()
	if n, ok := find(names, "353"); !ok || !slices.Equal(strings.Fields(lastParam(n)), []string{"Alice", "Bob"}) {
		t.Errorf("NAMES = %v", names)
	}
	if got := bob.sync(); len(got) != 0 {
		t.Errorf("bob saw the second connection join: %v", got)
	}

	// A message from a1 reaches bob and a2, not a1.
	a1.send("PRIVMSG #chat :from one")
	for _, tc := range []*testConn{bob, a2} {
		if m := tc.expect("PRIVMSG"); m.Source != "Alice!alice@users.test" || lastParam(m) != "from one" {
			t.Errorf("got %s %q", m.Source, m.Params)
		}
	}
	if got := a1.sync(); len(got) != 0 {
		t.Errorf("sender got %v", got)
	}

	// WHO lists the nick once.
	bob.send("WHO #chat")
	_, before := bob.waitFor("315")
	if len(before) != 2 {
		t.Errorf("WHO = %v", before)
	}

	// A private message to Alice reaches both connections.
	bob.send("PRIVMSG alice :psst")
	a1.expect("PRIVMSG")
	a2.expect("PRIVMSG")

	// The first connection leaving is invisible; the last one QUITs.
	a1.send("QUIT")
	a1.expectClosed()
	if got := bob.sync(); len(got) != 0 {
		t.Errorf("bob saw %v when one of two connections quit", got)
	}
	a2.send("QUIT :done")
	a2.expectClosed()
	if q := bob.expect("QUIT"); q.Source != "Alice!alice@users.test" {
		t.Errorf("QUIT from %s", q.Source)
	}
}

// TestMultiConnectionPartWhileOtherStays: the user leaves the channel when its last joined
// connection parts, even while another of its connections stays connected.
func TestMultiConnectionPartWhileOtherStays(t *testing.T) {
	e := newTestEnv(t, nil)
	bob := e.dial()
	bob.register("b", "PASS bob:builder")
	bob.joinChannel()
	a1 := e.dial()
	a1.register("a", "PASS alice:wonderland")
	a1.joinChannel()
	bob.expect("JOIN")
	a2 := e.dial()
	a2.register("a", "PASS alice:wonderland") // not joined

	a1.send("QUIT")
	a1.expectClosed()
	if p := bob.expect("PART"); p.Source != "Alice!alice@users.test" {
		t.Errorf("PART from %s", p.Source)
	}
	bob.send("PRIVMSG Alice :still there?")
	if m := a2.expect("PRIVMSG"); lastParam(m) != "still there?" {
		t.Errorf("a2 got %q", m.Params)
	}
}
