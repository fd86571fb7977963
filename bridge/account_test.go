package bridge_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ergochat/irc-go/ircmsg"
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
