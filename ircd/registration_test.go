package ircd

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRegisterWithoutCAP(t *testing.T) {
	e := newTestEnv(t, nil)
	tc := e.dial()
	msgs := tc.register("carol")
	if tc.nick != "carol|guest" {
		t.Fatalf("guest nick = %q, want carol|guest", tc.nick)
	}
	got := cmdNames(msgs)
	for _, want := range []string{"001", "002", "003", "004", "005", "251", "255", "375", "372", "376"} {
		if !slices.Contains(got, want) {
			t.Errorf("welcome lacks %s: %v", want, got)
		}
	}
	if _, ok := find(msgs, "900"); ok {
		t.Error("guest got 900")
	}
	isupport := ""
	for _, m := range msgs {
		if m.Command == "005" {
			isupport += strings.Join(m.Params[1:len(m.Params)-1], " ") + " "
		}
	}
	for _, tok := range []string{"CASEMAPPING=ascii", "CHANTYPES=#", "PREFIX= ", "NETWORK=TestNet", "UTF8ONLY",
		"NICKLEN=", "CHANNELLEN=", "CHANMODES=", "MODES=", "TARGMAX=", "AWAYLEN=", "TOPICLEN=", "KICKLEN=", "MAXTARGETS="} {
		if !strings.Contains(isupport, tok) {
			t.Errorf("ISUPPORT lacks %q: %s", tok, isupport)
		}
	}
}

func TestRegisterSASL(t *testing.T) {
	e := newTestEnv(t, nil)
	tc := e.dial()
	tc.send("CAP LS 302")
	ls := tc.expect("CAP")
	if ls.Params[1] != "LS" || !strings.Contains(lastParam(ls), "sasl=PLAIN") {
		t.Fatalf("CAP LS = %q", ls.Params)
	}
	msgs := tc.registerSASL("whatever", "alice", "wonderland")
	if tc.nick != "Alice" {
		t.Errorf("forced nick = %q, want Alice", tc.nick)
	}
	if _, ok := find(msgs, "900"); ok {
		t.Error("900 sent twice for a SASL login")
	}
	if reg := e.b.registered[0]; reg.Login == nil || reg.Login.Account != "alice" || reg.Nick != "whatever" {
		t.Errorf("Register got %+v", reg)
	}
	if req := e.b.authCalls[0]; req.Authcid != "alice" || req.Password != "wonderland" {
		t.Errorf("AuthenticatePlain got %+v", req)
	}
	if !slices.Equal(e.b.observed, []string{"Alice"}) {
		t.Errorf("RegistrationObserver saw %q", e.b.observed)
	}
	tc.send("QUIT")
	tc.expectClosed()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil { // waits for the connection's goroutines
		t.Fatal(err)
	}
	if len(e.b.disconnected) != 1 {
		t.Errorf("Disconnected called for %v", e.b.disconnected)
	}
}

func TestSASLFailureThenRegistrationRefused(t *testing.T) {
	e := newTestEnv(t, nil)
	e.b.requireLogin = true
	tc := e.dial()
	tc.send("CAP LS 302", "NICK x", "USER u 0 * :x")
	tc.expect("CAP")
	tc.send("CAP REQ sasl")
	tc.expect("CAP")
	tc.send("AUTHENTICATE PLAIN")
	tc.expect("AUTHENTICATE")
	tc.send("AUTHENTICATE " + saslPlain("alice", "wrong"))
	fail := tc.expect("904")
	if lastParam(fail) != "Invalid username or password" {
		t.Errorf("904 text = %q", lastParam(fail))
	}
	tc.send("CAP END")
	refused := tc.expect("464")
	if lastParam(refused) != "Log in with SASL or PASS" {
		t.Errorf("464 text = %q", lastParam(refused))
	}
	if reason := tc.expectClosed(); reason != "Log in with SASL or PASS" {
		t.Errorf("ERROR = %q", reason)
	}
}

func TestSASLTooManyFailuresCloses(t *testing.T) {
	e := newTestEnv(t, nil)
	tc := e.dial()
	tc.send("CAP REQ sasl")
	tc.expect("CAP")
	for i := 0; i < maxSASLTries; i++ {
		tc.send("AUTHENTICATE PLAIN")
		tc.expect("AUTHENTICATE")
		tc.send("AUTHENTICATE " + saslPlain("bob", "nope"))
		tc.expect("904")
	}
	if reason := tc.expectClosed(); !strings.Contains(reason, "failed login") {
		t.Errorf("ERROR = %q", reason)
	}
}

func TestSASLProtocolErrors(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  []string
	}{
		{"without cap", []string{"AUTHENTICATE PLAIN"}, []string{"904"}},
		{"unknown mechanism", []string{"CAP REQ sasl", "AUTHENTICATE EXTERNAL"}, []string{"CAP", "908", "904"}},
		{"abort", []string{"CAP REQ sasl", "AUTHENTICATE PLAIN", "AUTHENTICATE *"}, []string{"CAP", "AUTHENTICATE", "906"}},
		{"bad base64", []string{"CAP REQ sasl", "AUTHENTICATE PLAIN", "AUTHENTICATE !!!!"}, []string{"CAP", "AUTHENTICATE", "904"}},
		{"malformed plain", []string{"CAP REQ sasl", "AUTHENTICATE PLAIN", "AUTHENTICATE " + "YWxpY2U="}, []string{"CAP", "AUTHENTICATE", "904"}},
		{"chunk too long", []string{"CAP REQ sasl", "AUTHENTICATE PLAIN", "AUTHENTICATE " + strings.Repeat("A", 401)}, []string{"CAP", "AUTHENTICATE", "905"}},
		{"authzid of another user", []string{"CAP REQ sasl", "AUTHENTICATE PLAIN", "AUTHENTICATE " + b64("alice\x00bob\x00builder")},
			[]string{"CAP", "AUTHENTICATE", "904"}},
		{"authzid equal to authcid", []string{"CAP REQ sasl", "AUTHENTICATE PLAIN", "AUTHENTICATE " + b64("Bob\x00bob\x00builder")},
			[]string{"CAP", "AUTHENTICATE", "900", "903"}},
		{"already", []string{"CAP REQ sasl", "AUTHENTICATE PLAIN", "AUTHENTICATE " + saslPlain("bob", "builder"), "AUTHENTICATE PLAIN"},
			[]string{"CAP", "AUTHENTICATE", "900", "903", "907"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, nil)
			tc := e.dial()
			tc.send(tt.lines...)
			if got := cmdNames(tc.sync()); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRegisterWithPASS(t *testing.T) {
	e := newTestEnv(t, nil)
	tc := e.dial()
	msgs := tc.register("bobby", "PASS bob:builder")
	if tc.nick != "Bob" {
		t.Errorf("nick = %q, want Bob", tc.nick)
	}
	logged, ok := find(msgs, "900")
	if !ok || logged.Params[2] != "bob" {
		t.Errorf("900 after PASS login: %v %q", ok, logged.Params)
	}
	bad := e.dial()
	bad.send("PASS bob:wrong", "NICK b", "USER u 0 * :x")
	bad.expect("464")
	if reason := bad.expectClosed(); reason != "Invalid username or password" {
		t.Errorf("ERROR = %q", reason)
	}
}

func TestCAPNegotiation(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  [][]string // params of each CAP reply after the nick
	}{
		{"ls 301 without values", []string{"CAP LS"}, [][]string{{"LS", strings.Join(capNames(allCaps, false), " ")}}},
		{"req ack", []string{"CAP REQ :server-time message-tags"}, [][]string{{"ACK", "server-time message-tags"}}},
		{"req unknown nak", []string{"CAP REQ :server-time bogus"}, [][]string{{"NAK", "server-time bogus"}}},
		{"list", []string{"CAP REQ :batch echo-message", "CAP LIST"}, [][]string{{"ACK", "batch echo-message"}, {"LIST", "batch echo-message"}}},
		{"remove", []string{"CAP REQ :batch", "CAP REQ :-batch", "CAP LIST"}, [][]string{{"ACK", "batch"}, {"ACK", "-batch"}, {"LIST", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, nil)
			tc := e.dial()
			tc.send(tt.lines...)
			got := tc.sync()
			if len(got) != len(tt.want) {
				t.Fatalf("got %d replies %v", len(got), got)
			}
			for i, m := range got {
				if m.Command != "CAP" || !slices.Equal(m.Params[1:], tt.want[i]) {
					t.Errorf("reply %d = %s %q, want %q", i, m.Command, m.Params, tt.want[i])
				}
			}
		})
	}
	t.Run("unknown subcommand", func(t *testing.T) {
		tc := newTestEnv(t, nil).dial()
		tc.send("CAP FOO")
		tc.expect("410")
	})
	t.Run("registration waits for CAP END", func(t *testing.T) {
		tc := newTestEnv(t, nil).dial()
		tc.send("CAP LS 302", "NICK dave", "USER u 0 * :x")
		if got := cmdNames(tc.sync()); !slices.Equal(got, []string{"CAP"}) {
			t.Fatalf("before CAP END: %v", got)
		}
		tc.send("CAP END")
		tc.expect("001")
	})
}

func TestCommandsBeforeRegistration(t *testing.T) {
	e := newTestEnv(t, nil)
	tc := e.dial()
	tc.send("JOIN :", "PRIVMSG #chat :hi", "WHOIS x", "FROB")
	got := tc.sync()
	if names := cmdNames(got); !slices.Equal(names, []string{"451", "451", "451", "421"}) {
		t.Fatalf("got %v", names)
	}
	tc.register("erin") // still usable
}

func TestRegistrationErrors(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  []string
	}{
		{"no nick", []string{"NICK"}, []string{"431"}},
		{"bad nick", []string{"NICK 9lives"}, []string{"432"}},
		{"bad nick chars", []string{"NICK a!b"}, []string{"432"}},
		{"user params", []string{"USER u 0"}, []string{"461"}},
		{"user twice", []string{"USER u 0 * :x", "USER u 0 * :x"}, []string{"462"}},
		{"pass empty", []string{"PASS"}, []string{"461"}},
		{"ping no origin", []string{"PING"}, []string{"409"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestEnv(t, nil).dial()
			tc.send(tt.lines...)
			if got := cmdNames(tc.sync()); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAlreadyRegistered(t *testing.T) {
	tc := newTestEnv(t, nil).dial()
	tc.register("frank")
	tc.send("USER a b c :d", "PASS x")
	if got := cmdNames(tc.sync()); !slices.Equal(got, []string{"462", "462"}) {
		t.Errorf("got %v", got)
	}
}

func TestNickInUseDuringRegistration(t *testing.T) {
	e := newTestEnv(t, nil)
	first := e.dial()
	first.register("gina")
	second := e.dial()
	second.send("NICK gina", "USER u 0 * :x")
	second.expect("433")
	second.send("NICK gina_")
	if welcome := second.expect("001"); welcome.Params[0] != "gina_|guest" {
		t.Errorf("nick = %q", welcome.Params[0])
	}
	if n := len(e.b.registered); n != 2 {
		t.Errorf("Register called %d times, want 2 (once per connection)", n)
	}
}

func TestForcedNickHeldByAnotherAccountFails(t *testing.T) {
	e := newTestEnv(t, nil)
	guest := e.dial()
	guest.register("Alice") // a guest cannot hold "Alice": it becomes Alice|guest
	if guest.nick != "Alice|guest" {
		t.Fatalf("guest nick %q", guest.nick)
	}
	first := e.dial()
	first.register("a", "PASS alice:wonderland")
	// An account whose forced nick is taken by a different account.
	e.b.mu.Lock()
	e.b.passwords["ALICE"] = "y" // account "ALICE" is forced to nick "ALICE", which folds to "alice"
	e.b.mu.Unlock()
	other := e.dial()
	other.send("PASS ALICE:y", "NICK z", "USER u 0 * :x")
	other.expect("433")
	if reason := other.expectClosed(); !strings.Contains(reason, "in use") {
		t.Errorf("ERROR = %q", reason)
	}
}

func TestRegistrationTimeout(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.RegistrationTimeout = 100 * time.Millisecond })
	tc := e.dial()
	tc.send("NICK half")
	if reason := tc.expectClosed(); reason != "Registration timeout" {
		t.Errorf("ERROR = %q", reason)
	}
}

func TestPingTimeout(t *testing.T) {
	e := newTestEnv(t, func(c *Config) {
		c.PingInterval = 50 * time.Millisecond
		c.PingTimeout = 50 * time.Millisecond
	})
	tc := e.dial()
	tc.register("idle")
	ping, _ := tc.waitFor("PING")
	tc.send("PONG :" + ping.Params[0])
	ping, _ = tc.waitFor("PING") // answered: asked again later
	if reason := tc.expectClosed(); !strings.HasPrefix(reason, "Ping timeout") {
		t.Errorf("ERROR = %q", reason)
	}
}
