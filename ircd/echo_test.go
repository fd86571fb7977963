package ircd

import (
	"testing"

	"github.com/ergochat/irc-go/ircmsg"
)

// The echo of a channel message is the message Backend.Post stored: the msgid and time of
// the copy the others get.
func TestEchoCarriesPostedIdentity(t *testing.T) {
	e := newTestEnv(t, nil)
	alice := e.dial()
	alice.registerSASL("a", "alice", "wonderland", "echo-message", "message-tags", "server-time")
	alice.joinChannel()
	bob := e.dial()
	bob.register("b", "PASS bob:builder", "CAP REQ :message-tags server-time", "CAP END")
	bob.joinChannel()
	alice.sync()

	alice.send("PRIVMSG #chat :stored once")
	echo := alice.expect("PRIVMSG")
	other := bob.expect("PRIVMSG")
	if tag(echo, "msgid") == "" || tag(echo, "msgid") != tag(other, "msgid") {
		t.Errorf("msgid: echo %q, bob's copy %q", tag(echo, "msgid"), tag(other, "msgid"))
	}
	if tag(echo, "time") == "" || tag(echo, "time") != tag(other, "time") {
		t.Errorf("time: echo %q, bob's copy %q", tag(echo, "time"), tag(other, "time"))
	}
}

// A channel message's client-only tags (a reply, a reaction) reach the other message-tags
// clients live and the sender's echo; clients without message-tags and the replay, which
// Directus cannot store them for, do without.
func TestClientTagsAreRelayedLive(t *testing.T) {
	e := newTestEnv(t, nil)
	alice := e.dial()
	alice.registerSASL("a", "alice", "wonderland", "echo-message", "message-tags")
	alice.joinChannel()
	bob := e.dial()
	bob.register("b", "PASS bob:builder", "CAP REQ :message-tags", "CAP END")
	bob.joinChannel()
	plain := e.dial()
	plain.register("plain")
	plain.joinChannel()
	alice.sync()
	bob.sync()

	alice.send("@+draft/reply=m1;+example.org/x=y PRIVMSG #chat :I agree")
	echo, other := alice.expect("PRIVMSG"), bob.expect("PRIVMSG")
	for who, m := range map[string]ircmsg.Message{"echo": echo, "bob": other} {
		if tag(m, "+draft/reply") != "m1" || tag(m, "+example.org/x") != "y" {
			t.Errorf("%s's copy has tags %v, want the client-only tags", who, m.AllTags())
		}
	}
	if m := plain.expect("PRIVMSG"); len(m.AllTags()) != 0 {
		t.Errorf("a client without message-tags got tags %v", m.AllTags())
	}
	late := e.dial()
	late.register("late", "CAP REQ :message-tags", "CAP END")
	replay := late.joinChannel()
	if m, ok := find(replay, "PRIVMSG"); !ok || m.HasTag("+draft/reply") {
		t.Errorf("replay %v: want the message without its client-only tags", replay)
	}
}
