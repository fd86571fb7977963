package ircd

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestJoin(t *testing.T) {
	e := newTestEnv(t, nil)
	alice := e.dial()
	alice.registerSASL("a", "alice", "wonderland")
	bob := e.dial()
	bob.register("b", "PASS bob:builder")
	bob.joinChannel()

	alice.send("JOIN #chat")
	join := alice.expect("JOIN")
	if join.Source != "Alice!alice@users.test" || join.Params[0] != "#chat" {
		t.Errorf("JOIN echo = %s %q", join.Source, join.Params)
	}
	if topic := alice.expect("332"); lastParam(topic) != "Welcome to the chat" {
		t.Errorf("332 = %q", topic.Params)
	}
	alice.expect("333")
	names := alice.expect("353")
	if got := strings.Fields(lastParam(names)); !slices.Equal(got, []string{"Alice", "Bob"}) {
		t.Errorf("NAMES = %q", got)
	}
	alice.expect("366")

	seen := bob.expect("JOIN")
	if seen.Source != "Alice!alice@users.test" {
		t.Errorf("bob saw %s", seen.Source)
	}
	if got := cmdNames(alice.sync()); len(got) != 0 {
		t.Errorf("unexpected after join: %v", got)
	}
	alice.send("JOIN #chat") // already on it: ignored
	alice.send("JOIN #other")
	other := alice.expect("403")
	if other.Params[1] != "#other" || !strings.Contains(lastParam(other), "only #chat") {
		t.Errorf("403 = %q", other.Params)
	}
}

func TestJoinRefused(t *testing.T) {
	e := newTestEnv(t, nil)
	e.b.joinErr = &UserError{Text: "guests may not join", Cause: errors.New("policy")}
	tc := e.dial()
	tc.register("guest")
	tc.send("JOIN #chat")
	refused := tc.expect("474")
	if refused.Params[1] != "#chat" || !strings.Contains(lastParam(refused), "guests may not join") {
		t.Errorf("474 = %q", refused.Params)
	}
	tc.send("PRIVMSG #chat :hi")
	tc.expect("404")
	tc.sync() // still connected
}

func TestAutoJoinAndHistory(t *testing.T) {
	base := time.Date(2024, 5, 6, 13, 4, 0, 0, time.UTC)
	history := []Message{
		{ID: "h1", Time: base, Nick: "Zed", Account: "zed", Text: "first"},
		{ID: "h2", Time: base.Add(time.Minute), Nick: "Zed", Account: "zed", Text: "waves", Action: true},
	}
	t.Run("plain", func(t *testing.T) {
		e := newTestEnv(t, func(c *Config) { c.AutoJoin = true; c.HistoryTimeFormat = "15:04" })
		e.srv.SeedHistory(history)
		tc := e.dial()
		tc.send("NICK plain", "USER u 0 * :x")
		_, before := tc.waitFor("366")
		if _, ok := find(before, "JOIN"); !ok {
			t.Fatal("no auto-join")
		}
		got := tc.sync()
		if len(got) != 2 {
			t.Fatalf("history replay = %v", got)
		}
		local := base.Local().Format("15:04")
		if got[0].Source != "Zed!zed@users.test" || lastParam(got[0]) != "["+local+"] first" || got[0].HasTag("time") {
			t.Errorf("first = %s %q", got[0].Source, got[0].Params)
		}
		if lastParam(got[1]) != "\x01ACTION ["+base.Add(time.Minute).Local().Format("15:04")+"] waves\x01" {
			t.Errorf("action = %q", lastParam(got[1]))
		}
	})
	t.Run("server-time and batch", func(t *testing.T) {
		e := newTestEnv(t, func(c *Config) { c.AutoJoin = true })
		e.srv.SeedHistory(history)
		tc := e.dial()
		tc.send("CAP LS 302", "CAP REQ :server-time message-tags batch account-tag", "NICK st", "USER u 0 * :x", "CAP END")
		tc.waitFor("366")
		got := tc.sync()
		if names := cmdNames(got); !slices.Equal(names, []string{"BATCH", "PRIVMSG", "PRIVMSG", "BATCH"}) {
			t.Fatalf("replay = %v", names)
		}
		ref := strings.TrimPrefix(got[0].Params[0], "+")
		if got[0].Params[1] != "chathistory" || got[3].Params[0] != "-"+ref {
			t.Errorf("batch = %q %q", got[0].Params, got[3].Params)
		}
		for i, want := range []struct{ id, time, text string }{
			{"h1", "2024-05-06T13:04:00.000Z", "first"},
			{"h2", "2024-05-06T13:05:00.000Z", "\x01ACTION waves\x01"},
		} {
			m := got[i+1]
			_, id := m.GetTag("msgid")
			_, ts := m.GetTag("time")
			_, batch := m.GetTag("batch")
			_, acct := m.GetTag("account")
			if id != want.id || ts != want.time || batch != ref || acct != "zed" || lastParam(m) != want.text {
				t.Errorf("line %d: tags %v text %q", i, m.AllTags(), lastParam(m))
			}
		}
	})
}

func TestMessagesDuringJoinAreHeldInOrder(t *testing.T) {
	e := newTestEnv(t, nil)
	e.srv.SeedHistory([]Message{{ID: "old", Nick: "Zed", Text: "history"}})
	bob := e.dial()
	bob.register("b", "PASS bob:builder")
	bob.joinChannel()
	e.b.joinHook = func(c *Client) {
		// Delivered while the backend decides on the JOIN: held for the joiner, and in the
		// replay it gets, so once in all.
		e.srv.Deliver(Message{ID: "new", Nick: "Zed", Text: "meanwhile"}, nil)
	}
	tc := e.dial()
	tc.register("late")
	tc.send("JOIN #chat")
	tc.expect("JOIN")
	tc.waitFor("366")
	got := tc.sync()
	var texts []string
	for _, m := range got {
		texts = append(texts, lastParam(m))
	}
	if !slices.Equal(texts, []string{"history", "meanwhile"}) {
		t.Errorf("after NAMES: %q", texts)
	}
}

func TestPrivmsgToChannel(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, bob := twoUsers(t, e)

	alice.send("PRIVMSG #chat :hello there", "PRIVMSG #chat :\x01ACTION waves\x01")
	msg := bob.expect("PRIVMSG")
	if msg.Source != "Alice!alice@users.test" || msg.Params[0] != "#chat" || msg.Params[1] != "hello there" {
		t.Errorf("bob got %s %q", msg.Source, msg.Params)
	}
	if action := bob.expect("PRIVMSG"); action.Params[1] != "\x01ACTION waves\x01" {
		t.Errorf("action = %q", action.Params[1])
	}
	if got := alice.sync(); len(got) != 0 {
		t.Errorf("sender got %v (no echo without echo-message)", got)
	}
	posts := e.b.posts
	if len(posts) != 2 || posts[0].Text != "hello there" || posts[0].Action || !posts[1].Action || posts[1].Text != "waves" {
		t.Errorf("posts = %+v", posts)
	}

	alice.send("NOTICE #chat :a notice")
	if n := bob.expect("NOTICE"); n.Params[1] != "a notice" {
		t.Errorf("notice = %q", n.Params)
	}
	alice.send("PRIVMSG #chat :\x01VERSION\x01")
	if refused := alice.expect("404"); !strings.Contains(lastParam(refused), "CTCP VERSION") {
		t.Errorf("CTCP refusal = %q", refused.Params)
	}
	alice.send("PRIVMSG #other :x", "PRIVMSG", "PRIVMSG #chat", "PRIVMSG #chat :")
	if got := cmdNames(alice.sync()); !slices.Equal(got, []string{"403", "411", "412", "412"}) {
		t.Errorf("errors = %v", got)
	}
}

func TestPostErrors(t *testing.T) {
	e := newTestEnv(t, nil)
	tc := e.dial()
	tc.register("poster", "CAP REQ standard-replies", "CAP END")
	tc.joinChannel()
	e.b.postErr = &UserError{Text: "Directus is unreachable", Cause: errors.New("dial tcp: refused")}
	tc.send("PRIVMSG #chat :lost", "NOTICE #chat :lost too")
	got := tc.sync()
	if len(got) != 2 || got[0].Command != "404" || lastParam(got[0]) != "Cannot send to channel: Directus is unreachable" {
		t.Fatalf("PRIVMSG error = %v", got)
	}
	if got[1].Command != "FAIL" || got[1].Params[0] != "NOTICE" || got[1].Params[1] != "CANNOT_SEND" {
		t.Errorf("NOTICE error = %s %q", got[1].Command, got[1].Params)
	}
}

// A backend refusal may end the connection (Directus ended the user's session): the client
// reads the refusal first, then ERROR with the reason.
func TestPostErrorThatDisconnects(t *testing.T) {
	e := newTestEnv(t, nil)
	tc := e.dial()
	tc.register("poster")
	tc.joinChannel()
	e.b.postErr = &UserError{Text: "Your session has ended; message not sent", Cause: errors.New("token expired"),
		Disconnect: "Your session has ended; please log in again"}
	tc.send("PRIVMSG #chat :too late")
	if m := tc.read(); m.Command != "404" || lastParam(m) != "Cannot send to channel: Your session has ended; message not sent" {
		t.Fatalf("first line = %v, want the 404", m)
	}
	if reason := tc.expectClosed(); reason != "Your session has ended; please log in again" {
		t.Fatalf("ERROR = %q", reason)
	}
}

func TestPrivmsgNotJoined(t *testing.T) {
	e := newTestEnv(t, nil)
	tc := e.dial()
	tc.register("outsider")
	tc.send("PRIVMSG #chat :hi", "NOTICE #chat :hi")
	if got := cmdNames(tc.sync()); !slices.Equal(got, []string{"404"}) {
		t.Errorf("got %v", got)
	}
	if e.b.postCount() != 0 {
		t.Error("posted while not joined")
	}
}

// TestOrderingPrivmsgThenPing checks the ordering guarantee: when the PONG for a PING sent after
// a PRIVMSG arrives, the delivery of that PRIVMSG to the others has already been queued.
func TestOrderingPrivmsgThenPing(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, bob := twoUsers(t, e)
	for i := 0; i < 50; i++ {
		alice.send("PRIVMSG #chat :message", "PING :order")
		alice.expect("PONG")
		// The PRIVMSG is in bob's queue by now: push a marker after it through bob's own
		// connection and check the message comes first.
		e.srv.Broadcast(Message{Nick: "marker", Text: "marker"}, nil)
		if m := bob.expect("PRIVMSG"); lastParam(m) != "message" {
			t.Fatalf("round %d: bob got %q before the message", i, lastParam(m))
		}
		bob.expect("PRIVMSG")
		alice.expect("PRIVMSG") // the marker
	}
}

func TestPart(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, bob := twoUsers(t, e)

	bob.send("PART #chat :bye")
	if p := bob.expect("PART"); p.Params[0] != "#chat" || p.Params[1] != "bye" {
		t.Errorf("echo = %q", p.Params)
	}
	if p := alice.expect("PART"); p.Source != "Bob!bob@users.test" {
		t.Errorf("alice saw %s", p.Source)
	}
	bob.send("PART #chat", "PART #nope")
	if got := cmdNames(bob.sync()); !slices.Equal(got, []string{"442", "403"}) {
		t.Errorf("got %v", got)
	}
	bob.joinChannel()
	alice.expect("JOIN")
	bob.send("JOIN 0")
	bob.expect("PART")
	alice.expect("PART")
}

func TestQuitIsBroadcast(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, bob := twoUsers(t, e)
	bob.send("QUIT :gone fishing")
	if reason := bob.expectClosed(); reason != "gone fishing" {
		t.Errorf("ERROR = %q", reason)
	}
	q := alice.expect("QUIT")
	if q.Source != "Bob!bob@users.test" || q.Params[0] != "Quit: gone fishing" {
		t.Errorf("QUIT = %s %q", q.Source, q.Params)
	}
}

// TestNamesOrder: NAMES lists nicks in casefolded order however users joined, renamed, parted
// and quit (the order is kept as they come and go, not sorted per NAMES).
func TestNamesOrder(t *testing.T) {
	e := newTestEnv(t, nil)
	conns := map[string]*testConn{}
	for _, nick := range []string{"dave", "Carol", "bob", "Eve", "alice"} {
		tc := e.dial()
		tc.register(nick)
		tc.joinChannel()
		conns[nick] = tc
	}
	names := func() []string {
		t.Helper()
		tc := conns["alice"]
		tc.send("NAMES #chat")
		var got []string
		for {
			msg := tc.read()
			if msg.Command == "366" {
				return got
			}
			if msg.Command == "353" {
				got = append(got, strings.Fields(lastParam(msg))...)
			}
		}
	}
	steps := []struct {
		name string
		do   func()
		want []string
	}{
		{"after the joins", func() {}, []string{"alice|guest", "bob|guest", "Carol|guest", "dave|guest", "Eve|guest"}},
		{"after a rename", func() {
			conns["bob"].send("NICK Dan")
			conns["bob"].waitFor("NICK")
		}, []string{"alice|guest", "Carol|guest", "Dan|guest", "dave|guest", "Eve|guest"}},
		{"after a part", func() {
			conns["Carol"].send("PART #chat")
			conns["Carol"].waitFor("PART")
		}, []string{"alice|guest", "Dan|guest", "dave|guest", "Eve|guest"}},
		{"a rename off the channel", func() {
			conns["Carol"].send("NICK Aaron")
			conns["Carol"].waitFor("NICK")
		}, []string{"alice|guest", "Dan|guest", "dave|guest", "Eve|guest"}},
		{"after a rejoin", func() {
			conns["Carol"].joinChannel()
		}, []string{"Aaron|guest", "alice|guest", "Dan|guest", "dave|guest", "Eve|guest"}},
		{"after a quit", func() {
			conns["dave"].send("QUIT :bye")
			conns["dave"].waitFor("ERROR")
			conns["alice"].waitFor("QUIT")
		}, []string{"Aaron|guest", "alice|guest", "Dan|guest", "Eve|guest"}},
	}
	for _, step := range steps {
		step.do()
		conns["alice"].sync()
		if got := names(); !slices.Equal(got, step.want) {
			t.Errorf("%s: NAMES = %q, want %q", step.name, got, step.want)
		}
	}
	e.srv.mu.RLock()
	if n := len(e.srv.onChannel); n != 4 {
		t.Errorf("%d users on the channel, want 4", n)
	}
	e.srv.mu.RUnlock()
}
