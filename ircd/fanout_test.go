package ircd

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// A channel message's fan-out to 5,000 members does not hold the server lock while it
// queues: a JOIN, a QUIT and a nick lookup go through while it is stuck at a slow recipient,
// and the message still reaches everyone once the recipient frees up.
func TestFanOutDoesNotBlockJoinQuitOrLookup(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, bob := twoUsers(t, e)
	dave := e.dial()
	dave.register("dave")
	dave.joinChannel()
	alice.sync()
	bob.sync()

	// The slow recipient: a member whose queue lock is held (its JOIN waits in the backend,
	// so it is a recipient of channel messages but not of JOIN and QUIT announcements).
	parked, released := make(chan struct{}), make(chan struct{})
	release := sync.OnceFunc(func() { close(released) })
	t.Cleanup(release) // before the server's shutdown, should the test fail while parked
	var first atomic.Bool
	e.b.mu.Lock()
	e.b.joinHook = func(c *Client) {
		if first.CompareAndSwap(false, true) {
			c.qmu.Lock()
			close(parked)
			<-released
			c.qmu.Unlock()
		}
	}
	e.b.mu.Unlock()
	// 5,000 more members ahead of the slow one: the fan-out is a large one.
	e.srv.mu.Lock()
	for range 5000 {
		c := newClient(e.srv, e.ctx, nopConn{}, e.srv.cfg())
		c.joinState = joined
		e.srv.addMemberLocked(c)
	}
	e.srv.mu.Unlock()
	slow := e.dial()
	slow.register("slow")
	slow.send("JOIN #chat")
	<-parked

	// Members are served in the order they joined: bob's copy means the fan-out has passed
	// him, and it cannot end before the slow recipient takes its copy.
	alice.send("PRIVMSG #chat :during the fan-out")
	if m, _ := bob.waitFor("PRIVMSG"); lastParam(m) != "during the fan-out" {
		t.Fatalf("bob got %q", m.Params)
	}

	carol := e.dial()
	carol.register("carol")
	carol.joinChannel() // waits for the server lock: stuck if the fan-out held it
	dave.send("QUIT :bye")
	dave.expectClosed()
	bob.send("WHOIS carol")
	if _, before := bob.waitFor("318"); len(before) == 0 {
		t.Fatal("no WHOIS reply")
	}

	// It joined while the message was delivered: it gets it once, in its replay (with a
	// time prefix, having no server-time), its held copy left out.
	release()
	m, _ := slow.waitFor("PRIVMSG")
	if !strings.HasSuffix(lastParam(m), "] during the fan-out") {
		t.Fatalf("the slow recipient got %q", m.Params)
	}
	if got := slow.sync(); len(got) != 0 {
		t.Fatalf("after the replay the slow recipient got %v", got)
	}
}
