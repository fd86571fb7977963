package ircd

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

func TestQueryCommands(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, bob := twoUsers(t, e)
	_ = alice
	tests := []struct {
		line  string
		want  []string
		check func(t *testing.T, got []ircmsg.Message)
	}{
		{"WHO #chat", []string{"352", "352", "315"}, func(t *testing.T, got []ircmsg.Message) {
			if got[0].Params[1] != "#chat" || got[0].Params[5] != "Alice" || got[0].Params[6] != "H" || lastParam(got[0]) != "0 Real Name" {
				t.Errorf("352 = %q", got[0].Params)
			}
		}},
		{"WHO Alice %tcuhnfar,42", []string{"354", "315"}, func(t *testing.T, got []ircmsg.Message) {
			want := []string{"Bob", "42", "#chat", "alice", "users.test", "Alice", "H", "alice", "Real Name"}
			if !slices.Equal(got[0].Params, want) {
				t.Errorf("354 = %q, want %q", got[0].Params, want)
			}
		}},
		{"WHO nobody", []string{"315"}, nil},
		{"WHO A*", []string{"352", "315"}, nil},
		{"WHOIS alice", []string{"311", "319", "312", "330", "317", "318"}, func(t *testing.T, got []ircmsg.Message) {
			if got[0].Params[1] != "Alice" || got[0].Params[2] != "alice" || got[0].Params[3] != "users.test" {
				t.Errorf("311 = %q", got[0].Params)
			}
			if got[3].Params[2] != "alice" {
				t.Errorf("330 = %q", got[3].Params)
			}
		}},
		{"WHOIS nobody", []string{"401", "318"}, nil},
		{"USERHOST Alice nobody Bob", []string{"302"}, func(t *testing.T, got []ircmsg.Message) {
			if lastParam(got[0]) != "Alice=+alice@users.test Bob=+bob@users.test" {
				t.Errorf("302 = %q", lastParam(got[0]))
			}
		}},
		{"ISON alice nobody BOB", []string{"303"}, func(t *testing.T, got []ircmsg.Message) {
			if lastParam(got[0]) != "Alice Bob" {
				t.Errorf("303 = %q", lastParam(got[0]))
			}
		}},
		{"LIST", []string{"321", "322", "323"}, func(t *testing.T, got []ircmsg.Message) {
			if got[1].Params[1] != "#chat" || got[1].Params[2] != "2" || lastParam(got[1]) != "Welcome to the chat" {
				t.Errorf("322 = %q", got[1].Params)
			}
		}},
		{"LIST #other", []string{"321", "323"}, nil},
		{"NAMES", []string{"353", "366"}, nil},
		{"NAMES #other", []string{"366"}, nil},
		{"TOPIC #chat", []string{"332", "333"}, nil},
		{"TOPIC #chat :new topic", []string{"482"}, nil},
		{"TOPIC #other", []string{"403"}, nil},
		{"MODE #chat", []string{"324", "329"}, func(t *testing.T, got []ircmsg.Message) {
			if got[0].Params[2] != "+nt" {
				t.Errorf("324 = %q", got[0].Params)
			}
		}},
		{"MODE #chat b", []string{"368"}, nil},
		{"MODE #chat +o Bob", []string{"482"}, nil},
		{"MODE #other", []string{"403"}, nil},
		{"MODE Bob", []string{"221"}, nil},
		{"MODE Bob +i", []string{"MODE"}, nil},
		{"MODE Bob +x", []string{"501"}, nil},
		{"MODE Alice +i", []string{"502"}, nil},
		{"MODE b +i", []string{"MODE"}, nil}, // the nick bob asked for before PASS forced Bob
		{"MODE nobody +i", []string{"401"}, nil},
		{"MOTD", []string{"375", "372", "376"}, nil},
		{"LUSERS", []string{"251", "252", "253", "254", "255", "265", "266"}, nil},
		{"VERSION", []string{"351", "005", "005"}, nil},
		{"TIME", []string{"391"}, nil},
		{"INFO", []string{"371", "371", "371", "374"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			bob.send(tt.line)
			got := bob.sync()
			if names := cmdNames(got); !slices.Equal(names, tt.want) {
				t.Fatalf("got %v, want %v", names, tt.want)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func TestNoMOTD(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.MOTD = nil })
	tc := e.dial()
	msgs := tc.register("nomotd")
	if _, ok := find(msgs, "422"); !ok {
		t.Errorf("no 422: %v", cmdNames(msgs))
	}
}

func TestAway(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, bob := twoUsers(t, e, "away-notify")
	bob.send("AWAY :lunch")
	bob.expect("306")
	if a := alice.expect("AWAY"); a.Source != "Bob!bob@users.test" || lastParam(a) != "lunch" {
		t.Errorf("away-notify = %s %q", a.Source, a.Params)
	}
	alice.send("PRIVMSG Bob :hi", "WHOIS bob", "WHO #chat")
	got := alice.sync()
	if names := cmdNames(got); !slices.Contains(names, "301") || got[0].Command != "301" {
		t.Errorf("away replies = %v", names)
	}
	for _, m := range got {
		if m.Command == "352" && m.Params[5] == "Bob" && m.Params[6] != "G" {
			t.Errorf("WHO flags = %q", m.Params[6])
		}
	}
	bob.expect("PRIVMSG")
	bob.send("AWAY")
	bob.expect("305")
	if a := alice.expect("AWAY"); len(a.Params) != 0 {
		t.Errorf("back = %q", a.Params)
	}
}

func TestNickChange(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, _ := twoUsers(t, e)
	guest := e.dial()
	guest.register("gus")
	guest.joinChannel()
	alice.expect("JOIN")

	alice.send("NICK Alicia")
	if m := alice.expect("447"); m.Params[1] != "Alicia" {
		t.Errorf("447 = %q", m.Params)
	}
	guest.send("NICK augustus")
	n := guest.expect("NICK")
	if n.Source != "gus|guest!gusguest@users.test" || n.Params[0] != "augustus|guest" {
		t.Errorf("NICK = %s %q", n.Source, n.Params)
	}
	if seen := alice.expect("NICK"); seen.Params[0] != "augustus|guest" {
		t.Errorf("alice saw %q", seen.Params)
	}
	dan := e.dial()
	dan.register("dan")
	guest.send("NICK DAN", "NICK DAN|GUEST", "NICK 1x", "NICK augustus|GUEST")
	if got := cmdNames(guest.sync()); !slices.Equal(got, []string{"433", "433", "432", "NICK"}) {
		t.Errorf("got %v", got)
	}
}

func TestSetname(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, bob := twoUsers(t, e, "setname")
	bob.send("SETNAME :Robert the Builder")
	if m := alice.expect("SETNAME"); m.Source != "Bob!bob@users.test" || lastParam(m) != "Robert the Builder" {
		t.Errorf("SETNAME = %s %q", m.Source, m.Params)
	}
	alice.send("SETNAME :" + strings.Repeat("n", realnameLen+1))
	if m := alice.expect("FAIL"); m.Params[1] != "INVALID_REALNAME" {
		t.Errorf("FAIL = %q", m.Params)
	}
	bob.send("WHOIS bob")
	if m := bob.expect("311"); lastParam(m) != "Robert the Builder" {
		t.Errorf("311 = %q", m.Params)
	}
}

func TestPrivateMessages(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, bob := twoUsers(t, e, "echo-message", "message-tags", "server-time")
	bob.send("PRIVMSG alice :secret", "NOTICE Alice :note", "PRIVMSG nobody :x", "NOTICE nobody :x")
	if got := cmdNames(bob.sync()); !slices.Equal(got, []string{"401"}) {
		t.Errorf("bob got %v", got)
	}
	m := alice.expect("PRIVMSG")
	if m.Source != "Bob!bob@users.test" || m.Params[0] != "Alice" || m.Params[1] != "secret" || !m.HasTag("time") {
		t.Errorf("alice got %s %q %v", m.Source, m.Params, m.AllTags())
	}
	alice.expect("NOTICE")
	if e.b.postCount() != 0 {
		t.Error("a private message was posted")
	}
	alice.send("@+draft/react=x PRIVMSG Bob :with echo")
	echo := alice.expect("PRIVMSG")
	if echo.Params[0] != "Bob" || echo.Source != "Alice!alice@users.test" || !echo.HasTag("+draft/react") {
		t.Errorf("echo = %s %q %v", echo.Source, echo.Params, echo.AllTags())
	}
	if got := bob.expect("PRIVMSG"); got.HasTag("+draft/react") {
		t.Error("tags sent to a client without message-tags")
	}
}

func TestEchoMessageChannel(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, bob := twoUsers(t, e, "echo-message")
	alice.send("PRIVMSG #chat :echoed")
	if m := alice.expect("PRIVMSG"); m.Source != "Alice!alice@users.test" || lastParam(m) != "echoed" {
		t.Errorf("echo = %s %q", m.Source, m.Params)
	}
	bob.expect("PRIVMSG")
}

func TestTagmsg(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, bob := twoUsers(t, e, "message-tags")
	carol := e.dial()
	carol.register("carol", "CAP REQ message-tags", "CAP END")
	carol.joinChannel()
	alice.expect("JOIN")
	bob.expect("JOIN")

	carol.send("@+typing=active TAGMSG #chat")
	m := alice.expect("TAGMSG")
	if _, v := m.GetTag("+typing"); v != "active" || m.Params[0] != "#chat" {
		t.Errorf("TAGMSG = %q %v", m.Params, m.AllTags())
	}
	if got := bob.sync(); len(got) != 0 {
		t.Errorf("client without message-tags got %v", got)
	}
	carol.send("@+typing=paused TAGMSG alice")
	alice.expect("TAGMSG")
	if e.b.postCount() != 0 {
		t.Error("TAGMSG was posted")
	}
}

func TestBroadcastCapabilityVariants(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, bob := twoUsers(t, e, "message-tags", "server-time", "account-tag", "extended-join", "userhost-in-names")
	when := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	e.srv.Broadcast(Message{ID: "x1", Time: when, Nick: "Bob", Account: "bob", Text: "tagged"}, nil)
	full := alice.expect("PRIVMSG")
	tags := full.AllTags()
	if tags["msgid"] != "x1" || tags["time"] != "2024-01-02T03:04:05.000Z" || tags["account"] != "bob" || full.Source != "Bob!bob@users.test" {
		t.Errorf("full = %s %v", full.Source, tags)
	}
	if plain := bob.expect("PRIVMSG"); len(plain.AllTags()) != 0 {
		t.Errorf("plain has tags %v", plain.AllTags())
	}
	// Authors that are not connected get derived hostmasks; the server is the source for "".
	e.srv.Broadcast(Message{Nick: "Web User", Account: "web", Text: "hi"}, nil)
	if m := bob.expect("PRIVMSG"); m.Source != "Web_User!web@users.test" {
		t.Errorf("source = %q", m.Source)
	}
	e.srv.NoticeAll("Directus is unreachable")
	if m := bob.expect("NOTICE"); m.Source != "irc.test" || m.Params[0] != "#chat" || lastParam(m) != "Directus is unreachable" {
		t.Errorf("NoticeAll = %s %q", m.Source, m.Params)
	}
	alice.sync()

	carol := e.dial()
	carol.register("carol")
	carol.joinChannel()
	if j := alice.expect("JOIN"); len(j.Params) != 3 || j.Params[1] != "*" || j.Params[2] != "Real Name" {
		t.Errorf("extended JOIN = %q", j.Params)
	}
	alice.send("NAMES #chat")
	if n := alice.expect("353"); !strings.Contains(lastParam(n), "Bob!bob@users.test") {
		t.Errorf("userhost-in-names = %q", lastParam(n))
	}
}

func TestBroadcastSplitsLongText(t *testing.T) {
	e := newTestEnv(t, nil)
	_, bob := twoUsers(t, e)
	text := "line one\r\nline two\n\n" + strings.Repeat("word ", 300) + "\rend\x00"
	e.srv.Broadcast(Message{Nick: "Zed", Text: text, Action: true}, nil)
	got := bob.sync()
	if len(got) < 5 {
		t.Fatalf("got %d lines", len(got))
	}
	if lastParam(got[0]) != "\x01ACTION line one\x01" || lastParam(got[len(got)-1]) != "\x01ACTION end\x01" {
		t.Errorf("first %q last %q", lastParam(got[0]), lastParam(got[len(got)-1]))
	}
}

func TestClientMethods(t *testing.T) {
	e := newTestEnv(t, nil)
	var client *Client
	e.b.joinHook = func(c *Client) { client = c }
	tc := e.dial()
	tc.register("meth", "CAP REQ standard-replies", "CAP END")
	tc.joinChannel()
	if client.Nick() != "meth|guest" || client.Account() != "" || client.Identity().NickSuffix != "|guest" || client.ID() == 0 {
		t.Errorf("client = %q %q %+v", client.Nick(), client.Account(), client.Identity())
	}
	if client.Addr().IsValid() {
		t.Errorf("net.Pipe address %v", client.Addr())
	}
	client.Notice("hello\r\nthere")
	if m := tc.expect("NOTICE"); m.Params[0] != "meth|guest" || m.Params[1] != "hello" {
		t.Errorf("Notice = %q", m.Params)
	}
	tc.expect("NOTICE")
	client.Fail("PRIVMSG", "CANNOT_SEND", "message not sent: Directus said no")
	if m := tc.expect("FAIL"); !slices.Equal(m.Params, []string{"PRIVMSG", "CANNOT_SEND", "message not sent: Directus said no"}) {
		t.Errorf("Fail = %q", m.Params)
	}
	client.Disconnect("bye now")
	if reason := tc.expectClosed(); reason != "bye now" {
		t.Errorf("ERROR = %q", reason)
	}
}

func TestFailWithoutStandardReplies(t *testing.T) {
	e := newTestEnv(t, nil)
	var client *Client
	e.b.joinHook = func(c *Client) { client = c }
	tc := e.dial()
	tc.register("plain")
	tc.joinChannel()
	client.Fail("PRIVMSG", "CANNOT_SEND", "message not sent")
	if m := tc.expect("NOTICE"); lastParam(m) != "message not sent" {
		t.Errorf("Fail = %q", m.Params)
	}
}

func TestReload(t *testing.T) {
	e := newTestEnv(t, nil)
	_, bob := twoUsers(t, e)
	cfg := testConfig()
	cfg.Topic = "New topic"
	cfg.MOTD = []string{"changed"}
	cfg.Channel = "#elsewhere"
	changed := e.srv.Reload(cfg)
	for _, want := range []string{"topic", "motd", "channel not changed (needs a restart)"} {
		if !slices.Contains(changed, want) {
			t.Errorf("changes %q lack %q", changed, want)
		}
	}
	if m := bob.expect("TOPIC"); m.Source != "irc.test" || m.Params[0] != "#chat" || m.Params[1] != "New topic" {
		t.Errorf("TOPIC = %s %q", m.Source, m.Params)
	}
	bob.send("MOTD")
	bob.expect("375")
	if m := bob.expect("372"); lastParam(m) != "- changed" {
		t.Errorf("MOTD = %q", m.Params)
	}
	if got := e.srv.Reload(cfg); len(got) != 1 {
		t.Errorf("second reload changes = %q", got)
	}
}
