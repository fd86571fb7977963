package ircd

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/ergochat/irc-go/ircmsg"
)

func TestDuplicateTargetsDeliverOnce(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, bob := twoUsers(t, e)
	alice.send("PRIVMSG #chat,#chat,#CHAT,#Chat :once")
	alice.sync() // the deliveries to bob are queued before alice's PONG
	if got := cmdNames(bob.sync()); !slices.Equal(got, []string{"PRIVMSG"}) {
		t.Errorf("bob got %v for one message to #chat four times", got)
	}
	if n := e.b.postCount(); n != 1 {
		t.Errorf("%d posts, want 1", n)
	}
	alice.send("PRIVMSG Bob,bob,BOB :hi")
	alice.sync()
	if got := cmdNames(bob.sync()); !slices.Equal(got, []string{"PRIVMSG"}) {
		t.Errorf("bob got %v for one private message to him three times", got)
	}
}

// TestOversizedClientTags: a client may send 8191 bytes of tags, a server may relay 4094 of
// client-only tags; the message still arrives, with the tags that fit.
func TestOversizedClientTags(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, bob := twoUsers(t, e, "message-tags", "echo-message")
	bob.send("CAP REQ message-tags")
	bob.expect("CAP")
	tags := "@+a=" + strings.Repeat("x", 4000) + ";+b=" + strings.Repeat("y", 4000)

	alice.send(tags + " PRIVMSG Bob :private")
	echo := alice.sync()
	dm := bob.sync()
	for who, msgs := range map[string][]ircmsg.Message{"bob": dm, "alice's echo": echo} {
		if len(msgs) != 1 || msgs[0].Command != "PRIVMSG" || lastParam(msgs[0]) != "private" {
			t.Fatalf("%s got %v", who, cmdNames(msgs))
		}
		if !msgs[0].HasTag("+a") || msgs[0].HasTag("+b") {
			t.Errorf("%s: the tag that fits is kept, the other left out; got +a=%v +b=%v", who, msgs[0].HasTag("+a"), msgs[0].HasTag("+b"))
		}
	}

	alice.send(tags + " PRIVMSG #chat :public")
	echo = alice.sync()
	if len(echo) != 1 || lastParam(echo[0]) != "public" || !echo[0].HasTag("+a") || echo[0].HasTag("+b") {
		t.Errorf("channel echo = %v", echo)
	}
	if got := bob.sync(); len(got) != 1 || lastParam(got[0]) != "public" {
		t.Errorf("bob got %v", got)
	}
}

func TestChannelNoticeStaysNotice(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, bob := twoUsers(t, e)
	alice.send("NOTICE #chat :bots must not answer this")
	alice.sync() // the delivery to bob is queued before alice's PONG
	got := bob.sync()
	if len(got) != 1 || got[0].Command != "NOTICE" || got[0].Params[0] != "#chat" {
		t.Errorf("bob got %v, want one NOTICE to #chat", got)
	}
}

func TestLUSERSMaxNeverFalls(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, bob := twoUsers(t, e)
	bob.send("QUIT")
	bob.expectClosed()
	alice.send("LUSERS")
	for _, m := range alice.sync() {
		if m.Command == "265" || m.Command == "266" {
			if m.Params[1] != "1" || m.Params[2] != "2" || !strings.HasSuffix(lastParam(m), "users 1, max 2") {
				t.Errorf("%s = %q, want current 1, max 2", m.Command, m.Params)
			}
		}
	}
}

func TestAwayUserJoiningIsAnnounced(t *testing.T) {
	e := newTestEnv(t, nil)
	alice := e.dial()
	alice.registerSASL("a", "alice", "wonderland", "away-notify")
	alice.joinChannel()
	bob := e.dial()
	bob.register("b", "PASS bob:builder")
	bob.send("AWAY :gone fishing")
	bob.expect("306")
	bob.joinChannel()
	got := alice.sync()
	if len(got) != 2 || got[0].Command != "JOIN" || got[1].Command != "AWAY" || lastParam(got[1]) != "gone fishing" {
		t.Errorf("alice got %v, want JOIN then AWAY", got)
	}
}

func TestGuestAuthenticateAfterRegistration(t *testing.T) {
	e := newTestEnv(t, nil)
	guest := e.dial()
	guest.register("visitor", "CAP REQ sasl", "CAP END")
	for range 4 { // never counted as failures that close the connection
		guest.send("AUTHENTICATE PLAIN")
		if got := cmdNames(guest.sync()); !slices.Equal(got, []string{"904"}) {
			t.Fatalf("guest got %v, want 904", got)
		}
	}
}

func TestEmptyRealname(t *testing.T) {
	e := newTestEnv(t, nil)
	tc := e.dial()
	tc.send("NICK someone", "USER name * * :")
	if got := cmdNames(tc.sync()); !slices.Equal(got, []string{"461"}) {
		t.Errorf("got %v, want 461", got)
	}
	tc.send("USER name * * :Real")
	tc.expect("001")
}

func TestPrivateMessagesCarryMsgid(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, bob := twoUsers(t, e, "message-tags", "echo-message")
	bob.send("CAP REQ message-tags")
	bob.expect("CAP")
	ids := map[string]bool{}
	for range 2 {
		alice.send("PRIVMSG Bob :hi")
		echo := alice.sync()
		got := bob.sync()
		_, id := got[0].GetTag("msgid")
		if _, echoID := echo[0].GetTag("msgid"); id == "" || echoID != id || ids[id] {
			t.Errorf("msgid %q (echo %q), seen before: %v", id, echoID, ids[id])
		}
		ids[id] = true
	}
}

func TestNickFreeRightAfterQuit(t *testing.T) {
	e := newTestEnv(t, nil)
	for range 30 {
		tc := e.dial()
		tc.register("again")
		tc.send("QUIT :bye")
		tc.waitFor("ERROR") // reconnect as soon as the server has answered the QUIT
		next := e.dial()
		next.send("NICK again", "USER u 0 * :Real")
		first := next.read()
		if first.Command != "001" {
			t.Fatalf("reconnect got %s %q, want 001", first.Command, first.Params)
		}
		next.readWelcome(first)
		next.send("QUIT")
		next.expectClosed()
	}
}

func TestInvalidUTF8BeforeRegistration(t *testing.T) {
	e := newTestEnv(t, nil)
	tc := e.dial()
	tc.send("NICK \xffbad")
	if got := cmdNames(tc.sync()); !slices.Equal(got, []string{"432"}) {
		t.Errorf("NICK with invalid UTF-8: %v, want 432", got)
	}
	tc.send("NICK good", "USER u\xff 0 * :Real \xfe Name")
	tc.expect("001")
}

// reservedNicks refuses guests the nicks of accounts, as the bridge does.
type reservedNicks struct{ *memBackend }

func (b reservedNicks) CheckNick(c *Client, nick string) error {
	if strings.HasPrefix(Casefold(nick), "alice") {
		return &UserError{Text: "That nick belongs to an account"}
	}
	return nil
}

func TestNickCheckerRefusesGuests(t *testing.T) {
	e := newTestEnv(t, nil)
	srv := NewServer(testConfig(), reservedNicks{e.b}, e.srv.log)
	e.b.srv = srv
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	client, server := net.Pipe()
	go srv.ServeConn(e.ctx, server)
	guest := newTestConn(t, client)
	guest.send("NICK Alice", "USER u 0 * :Guest")
	if m := guest.expect("432"); lastParam(m) != "That nick belongs to an account" {
		t.Fatalf("432 = %q", m.Params)
	}
	guest.send("NICK dan")
	welcome := guest.expect("001")
	if welcome.Params[0] != "dan|guest" {
		t.Fatalf("nick %q", welcome.Params[0])
	}
	guest.readWelcome(welcome)
	guest.send("NICK alice")
	if got := cmdNames(guest.sync()); !slices.Equal(got, []string{"432"}) {
		t.Errorf("NICK alice: %v", got)
	}
}
