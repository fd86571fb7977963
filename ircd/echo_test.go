package ircd

import "testing"

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
