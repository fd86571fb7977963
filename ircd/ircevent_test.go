package ircd

import (
	"io"
	"log"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircevent"
	"github.com/ergochat/irc-go/ircmsg"
)

// newIRCEvent makes an ircevent client for the loopback listener at addr.
func newIRCEvent(addr, nick, login, password string, caps ...string) *ircevent.Connection {
	return &ircevent.Connection{
		Server:       addr,
		Nick:         nick,
		User:         "ev",
		RealName:     "irc-go ircevent",
		SASLLogin:    login,
		SASLPassword: password,
		RequestCaps:  caps,
		Timeout:      5 * time.Second,
		Log:          log.New(io.Discard, "", 0),
	}
}

// TestIRCEventClient drives the server with irc-go's ircevent client: SASL, CAP values,
// ISUPPORT, JOIN, and channel messages both ways.
func TestIRCEventClient(t *testing.T) {
	e := newTestEnv(t, nil)
	ln := listen(t, e)

	got := make(chan ircmsg.Message, 16)
	joined := make(chan struct{}, 1)
	irc := newIRCEvent(ln.Addr().String(), "someone", "alice", "wonderland", "server-time", "message-tags", "account-tag")
	irc.AddConnectCallback(func(ircmsg.Message) { irc.Join("#chat") })
	irc.AddCallback("JOIN", func(m ircmsg.Message) {
		if m.Nick() == irc.CurrentNick() {
			joined <- struct{}{}
		}
	})
	irc.AddCallback("PRIVMSG", func(m ircmsg.Message) { got <- m })
	if err := irc.Connect(); err != nil {
		t.Fatalf("connect: %v", err)
	}
	go irc.Loop()
	defer irc.Quit()
	<-joined

	if nick := irc.CurrentNick(); nick != "Alice" {
		t.Errorf("nick = %q, want the forced Alice", nick)
	}
	acked := irc.AcknowledgedCaps()
	for _, c := range []string{"sasl", "server-time", "message-tags", "account-tag"} {
		if _, ok := acked[c]; !ok {
			t.Errorf("cap %s not acknowledged: %v", c, acked)
		}
	}
	isupport := irc.ISupport()
	if isupport["CASEMAPPING"] != "ascii" || isupport["NETWORK"] != "TestNet" || isupport["CHANTYPES"] != "#" {
		t.Errorf("ISUPPORT = %v", isupport)
	}

	bob := e.dial()
	bob.register("b", "PASS bob:builder")
	bob.joinChannel()
	bob.send("PRIVMSG #chat :hello ircevent")
	select {
	case m := <-got:
		if m.Nick() != "Bob" || m.Params[1] != "hello ircevent" || !m.HasTag("time") || !m.HasTag("msgid") {
			t.Errorf("ircevent got %s %q %v", m.Source, m.Params, m.AllTags())
		}
		if _, acct := m.GetTag("account"); acct != "bob" {
			t.Errorf("account tag %q", acct)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ircevent client got nothing")
	}

	if err := irc.Privmsg("#chat", "hello bob"); err != nil {
		t.Fatal(err)
	}
	if m := bob.expect("PRIVMSG"); m.Source != "Alice!alice@users.test" || lastParam(m) != "hello bob" {
		t.Errorf("bob got %s %q", m.Source, m.Params)
	}
}

// TestIRCEventSASLFailure: ircevent treats the 904 as fatal.
func TestIRCEventSASLFailure(t *testing.T) {
	e := newTestEnv(t, nil)
	ln := listen(t, e)
	irc := newIRCEvent(ln.Addr().String(), "x", "alice", "wrong")
	if err := irc.Connect(); err == nil {
		irc.Quit()
		t.Fatal("connected with a wrong password")
	}
}
