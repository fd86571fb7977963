package bridge_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

// The sender's echo (echo-message) is the stored message: the same msgid and time as the
// copy everyone else gets, the msgid being the Directus item id and the time its
// date_created. The others' copy carries the sender's client-only tags.
func TestEchoCarriesStoredIdentity(t *testing.T) {
	s := newStack(t, nil, nil)
	alice := login(t, s, "al", "alice@example.com", "alicepass") // with server-time and message-tags
	alice.Send("CAP", "REQ", "echo-message")
	alice.ExpectFunc("CAP ACK echo-message", func(m ircmsg.Message) bool {
		return m.Command == "CAP" && len(m.Params) > 2 && m.Params[1] == "ACK"
	})
	bob := login(t, s, "b", "bob", "bobpass")
	carol := s.web("carol@example.com", "carolpass")

	alice.SendRaw("@+draft/reply=42 PRIVMSG " + channel + " :one identity\r\n")
	echo := expectPrivmsg(t, alice, "Alice", "one identity")
	copy := expectPrivmsg(t, bob, "Alice", "one identity")
	item := carol.created("one identity")

	_, echoID := echo.GetTag("msgid")
	_, copyID := copy.GetTag("msgid")
	if want := fmt.Sprint(item["id"]); echoID != want || copyID != want {
		t.Fatalf("msgid: echo %q, other client %q; want the item id %q", echoID, copyID, want)
	}
	if _, reply := copy.GetTag("+draft/reply"); reply != "42" {
		t.Fatalf("the other client's copy has tags %v, want the sender's +draft/reply", copy.AllTags())
	}
	_, echoTime := echo.GetTag("time")
	_, copyTime := copy.GetTag("time")
	if echoTime == "" || echoTime != copyTime {
		t.Fatalf("time: echo %q, other client %q; want the same", echoTime, copyTime)
	}
	created, err := time.Parse(time.RFC3339Nano, fmt.Sprint(item["date_created"]))
	if err != nil {
		t.Fatalf("date_created %v: %v", item["date_created"], err)
	}
	if want := created.UTC().Format("2006-01-02T15:04:05.000Z"); echoTime != want {
		t.Fatalf("time tag %q, want date_created %q", echoTime, want)
	}
}
