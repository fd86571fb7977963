package bridge_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/directus-ircd/directus-ircd/directus"
)

// A user's held messages belong to their account, not to the connection that sent them: a
// message held during an outage is created as its author after the author has left, exactly
// once, and the account's Directus session is logged out only after that.
func TestHeldMessagesAreCreatedAfterTheirSenderLeft(t *testing.T) {
	s := newStack(t, nil, nil)
	aliceID := userID(t, s, "alice@example.com")
	alice := login(t, s, "a", "alice", "alicepass")
	bob := login(t, s, "b", "bob", "bobpass")
	s.dx.Kill(t)
	alice.ExpectFunc("outage notice", func(m ircmsg.Message) bool {
		return m.Command == "NOTICE" && strings.Contains(text(m), "unreachable")
	})
	alice.Send("PRIVMSG", channel, "held, then alice left")
	for _, m := range alice.Sync() {
		if m.Command == "404" {
			t.Fatalf("held message refused: %v", m.Params)
		}
	}
	alice.Send("QUIT", "bye")
	alice.Closed()
	s.dx.Restart(t)
	expectPrivmsg(t, bob, "Alice", "held, then alice left")
	var rows []struct {
		Text        string
		UserCreated string `json:"user_created"`
	}
	_ = json.Unmarshal(adminDo(t, s, http.MethodGet, "/items/messages?fields=text,user_created&limit=-1", nil), &rows)
	if len(rows) != 1 || rows[0].UserCreated != aliceID {
		t.Fatalf("Directus holds %+v, want the message once, by alice (%s)", rows, aliceID)
	}
	waitFor(t, "alice's session logged out", func() bool { return logouts(t, s, aliceID) == 1 })
}

// A create whose reply is lost (Directus froze with the request in hand) is held, and when
// Directus wakes up and stores it, the subscription's event is not echoed to its sender, and
// the retry finds it by its key instead of creating it twice.
func TestTimedOutCreateIsNeitherEchoedNorDoubled(t *testing.T) {
	s := provisioned(t, nil)
	s.opts.TuneDirectus = func(c *directus.Config) {
		c.HeartbeatTimeout, c.PingInterval, c.ReconnectMax = 3*time.Second, time.Second, 2*time.Second
	}
	s.cfg.Directus.RequestTimeout = 2 * time.Second
	s.start()
	alice := login(t, s, "a", "alice", "alicepass")
	bob := login(t, s, "b", "bob", "bobpass")
	bob.Send("PRIVMSG", channel, "warm up the create socket")
	expectPrivmsg(t, alice, "Bob", "warm up the create socket")
	s.dx.Pause(t)
	bob.Send("PRIVMSG", channel, "sent as Directus froze") // the bridge still thinks it is up
	// The create times out (2 s) before the heartbeat notices the freeze (3 s).
	alice.ExpectFunc("outage notice", func(m ircmsg.Message) bool {
		return m.Command == "NOTICE" && strings.Contains(text(m), "unreachable")
	})
	s.dx.Resume(t)
	expectPrivmsg(t, alice, "Bob", "sent as Directus froze")
	for _, m := range bob.Sync() {
		if m.Command == "PRIVMSG" || m.Command == "404" {
			t.Fatalf("bob got %v for his own line", m)
		}
	}
	var rows []struct{ Text string }
	_ = json.Unmarshal(adminDo(t, s, http.MethodGet, "/items/messages?fields=text&limit=-1&filter[text][_eq]=sent%20as%20Directus%20froze", nil), &rows)
	if len(rows) != 1 {
		t.Fatalf("stored %d times", len(rows))
	}
}
