package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/directus-ircd/directus-ircd/internal/config"
	"github.com/directus-ircd/directus-ircd/internal/dtest"
	"github.com/directus-ircd/directus-ircd/internal/irctest"
)

func login(t *testing.T, s *stack, nick, email, password string) *irctest.Client {
	t.Helper()
	c := irctest.Dial(t, s.d.addr)
	c.RegisterSASL(nick, email, password)
	c.Join(channel)
	return c
}

func from(m ircmsg.Message) string { return m.Nick() }

func text(m ircmsg.Message) string { return m.Params[len(m.Params)-1] }

func expectPrivmsg(t *testing.T, c *irctest.Client, nick, want string) ircmsg.Message {
	t.Helper()
	m := c.ExpectFunc("PRIVMSG "+want, func(m ircmsg.Message) bool { return m.Command == "PRIVMSG" })
	if from(m) != nick || text(m) != want {
		t.Fatalf("%s got PRIVMSG from %q: %q, want from %q: %q", c.Nick, from(m), text(m), nick, want)
	}
	return m
}

func noPrivmsgs(t *testing.T, c *irctest.Client) {
	t.Helper()
	if got := irctest.Privmsgs(c.Sync(), channel); len(got) > 0 {
		t.Fatalf("%s received unexpected %v", c.Nick, got)
	}
}

// The product: IRC users and a user of the guide's web page see each other's messages,
// each from the right author, nobody gets their own line back.
func TestChatBetweenIRCAndWeb(t *testing.T) {
	s := newStack(t, nil, nil)
	alice := login(t, s, "al", "alice@example.com", "alicepass")
	if alice.Nick != "Alice" {
		t.Fatalf("alice's nick = %q, want the forced nick Alice", alice.Nick)
	}
	bob := irctest.Dial(t, s.d.addr)
	if got := bob.RegisterPass("bobby", "bob:bobpass"); got != "Bob" {
		t.Fatalf("PASS login nick = %q, want Bob", got)
	}
	bob.Join(channel)
	carol := s.web("carol@example.com", "carolpass")

	alice.Send("PRIVMSG", channel, "hello from irc")
	noPrivmsgs(t, alice)
	expectPrivmsg(t, bob, "Alice", "hello from irc")
	it := carol.created("hello from irc")
	if author, _ := it["user_created"].(map[string]any); author["first_name"] != "Alice" {
		t.Fatalf("web page got %v, want Alice: hello from irc", it)
	}

	carol.send("hi from the web")
	expectPrivmsg(t, alice, "Carol", "hi from the web")
	expectPrivmsg(t, bob, "Carol", "hi from the web")

	bob.Send("PRIVMSG", channel, "\x01ACTION waves\x01")
	expectPrivmsg(t, alice, "Bob", "\x01ACTION waves\x01")
	carol.created("/me waves")
	carol.send("/me nods")
	expectPrivmsg(t, alice, "Carol", "\x01ACTION nods\x01")
}

func TestHistoryReplayedOnJoin(t *testing.T) {
	s := newStack(t, nil, nil)
	carol := s.web("carol@example.com", "carolpass")
	for i := 1; i <= 3; i++ {
		carol.send(fmt.Sprintf("history %d", i))
	}
	// The daemon has these once its subscription delivered them; a first client proves it.
	bob := login(t, s, "b", "bob@example.com", "bobpass")
	_ = bob

	alice := irctest.Dial(t, s.d.addr)
	alice.RegisterSASL("al", "alice", "alicepass")
	hist := irctest.Privmsgs(alice.Join(channel), channel)
	var texts []string
	for _, m := range hist {
		texts = append(texts, text(m))
		if ok, _ := m.GetTag("time"); !ok {
			t.Errorf("history line without server-time tag: %v", m)
		}
		if from(m) != "Carol" {
			t.Errorf("history line from %q, want Carol", from(m))
		}
	}
	if strings.Join(texts, "|") != "history 1|history 2|history 3" {
		t.Fatalf("history = %q", texts)
	}

	// A client without server-time sees the original time in the text.
	plain := irctest.Dial(t, s.d.addr)
	plain.RegisterPass("p", "carol:carolpass")
	hist = irctest.Privmsgs(plain.Join(channel), channel)
	if len(hist) != 3 || !strings.HasSuffix(text(hist[0]), "history 1") || text(hist[0]) == "history 1" {
		t.Fatalf("history without server-time = %v, want a time prefix", hist)
	}
}

// adminDo calls the Directus REST API as the admin.
func adminDo(t *testing.T, s *stack, method, path string, body any) json.RawMessage {
	t.Helper()
	var out json.RawMessage
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var dst any = &out
	if method == http.MethodDelete {
		dst = nil // 204 No Content
	}
	if err := s.dc.Do(ctx, s.dx.AdminToken(t), method, path, body, dst); err != nil {
		t.Fatalf("admin %s %s: %v", method, path, err)
	}
	return out
}

// addUser creates a user in a new role whose policy grants the given actions.
func addUser(t *testing.T, s *stack, email, first string, perms map[string][]string) {
	t.Helper()
	var pol struct{ ID string }
	_ = json.Unmarshal(adminDo(t, s, http.MethodPost, "/policies", map[string]any{"name": "p-" + first, "app_access": false, "admin_access": false}), &pol)
	for coll, actions := range perms {
		for _, a := range actions {
			adminDo(t, s, http.MethodPost, "/permissions", map[string]any{"policy": pol.ID, "collection": coll, "action": a, "fields": []string{"*"}})
		}
	}
	var role struct{ ID string }
	_ = json.Unmarshal(adminDo(t, s, http.MethodPost, "/roles", map[string]any{"name": "r-" + first, "policies": []map[string]any{{"policy": pol.ID}}}), &role)
	adminDo(t, s, http.MethodPost, "/users", map[string]any{"email": email, "password": "pw-" + first, "first_name": first, "role": role.ID, "status": "active"})
}

// Someone who became a Directus user after the daemon read the user list (the sweep runs
// every minute here) writes on the web page: IRC shows them under their own nick at once,
// not a fallback, and their namesake among older users keeps the plain name.
func TestNewWebUserAppearsUnderTheirNick(t *testing.T) {
	s := newStack(t, nil, nil)
	alice := login(t, s, "a", "alice", "alicepass")
	perms := map[string][]string{"messages": {"create", "read"}, "directus_users": {"read"}}
	addUser(t, s, "frida@example.com", "Frida", perms)
	addUser(t, s, "alice2@example.com", "Alice", perms)
	frida := s.web("frida@example.com", "pw-Frida")
	frida.send("hello from the web")
	expectPrivmsg(t, alice, "Frida", "hello from the web")
	other := s.web("alice2@example.com", "pw-Alice")
	other.send("the other Alice")
	m := alice.ExpectFunc("the other Alice", func(m ircmsg.Message) bool { return m.Command == "PRIVMSG" })
	if !strings.HasPrefix(from(m), "Alice-") || text(m) != "the other Alice" {
		t.Fatalf("got %q from %q, want it from Alice-<id>", text(m), from(m))
	}
}

func TestRefusedCreateReachesSender(t *testing.T) {
	s := newStack(t, nil, nil)
	addUser(t, s, "dora@example.com", "Dora", map[string][]string{"messages": {"read"}, "directus_users": {"read"}})
	dora := login(t, s, "d", "dora", "pw-Dora")
	alice := login(t, s, "a", "alice", "alicepass")
	dora.Send("PRIVMSG", channel, "am I allowed?")
	m := dora.Expect("404")
	if !strings.Contains(text(m), "Directus refused the message") || !strings.Contains(text(m), "permission") {
		t.Fatalf("404 text = %q, want Directus's reason", text(m))
	}
	noPrivmsgs(t, alice)
}

// A user whose Directus role may not read the collection has nothing to do on IRC: the login
// itself is refused with the reason (904 for SASL, 464 for PASS), not accepted with an empty
// account.
func TestUserWithoutReadIsRefusedAtLogin(t *testing.T) {
	s := newStack(t, nil, nil)
	addUser(t, s, "erin@example.com", "Erin", map[string][]string{"messages": {"create"}})
	erin := irctest.Dial(t, s.d.addr)
	erin.Send("CAP", "REQ", "sasl")
	erin.Send("AUTHENTICATE", "PLAIN")
	erin.Expect("AUTHENTICATE")
	erin.Send("AUTHENTICATE", irctest.SASLPlain("erin", "pw-Erin"))
	if m := erin.Expect("904"); !strings.Contains(text(m), "may not read messages") {
		t.Fatalf("904 = %q", text(m))
	}
	if refusal, _ := irctest.Dial(t, s.d.addr).RegisterRefused("e", "erin:pw-Erin"); !strings.Contains(refusal, "may not read messages") {
		t.Fatalf("464 = %q", refusal)
	}
}

// CR, LF and NUL typed on the web page arrive as text, never as IRC commands.
func TestWebTextCannotInjectIRC(t *testing.T) {
	s := newStack(t, nil, nil)
	alice := login(t, s, "a", "alice", "alicepass")
	carol := s.web("carol@example.com", "carolpass")
	carol.send("hi\r\nQUIT :injected")
	expectPrivmsg(t, alice, "Carol", "hi")
	expectPrivmsg(t, alice, "Carol", "QUIT :injected")
	// Only SQLite stores a NUL: PostgreSQL's text cannot hold one (Directus 12.4 then leaves the
	// WebSocket create unanswered), so there no such message can reach the bridge.
	if s.dx.DB == dtest.SQLite {
		carol.send("nul\x00byte")
		m := alice.Expect("PRIVMSG")
		if strings.ContainsRune(text(m), 0) || !strings.HasPrefix(text(m), "nul") {
			t.Fatalf("NUL text arrived as %q", text(m))
		}
	}
	carol.send("still here?")
	expectPrivmsg(t, alice, "Carol", "still here?")
}

func TestEditsAndDeletesReachIRC(t *testing.T) {
	s := newStack(t, nil, nil)
	alice := login(t, s, "a", "alice", "alicepass")
	carol := s.web("carol@example.com", "carolpass")
	id := carol.send("first version")
	expectPrivmsg(t, alice, "Carol", "first version")
	// Each is one marked line: the lines after the first must not arrive as lines of their own
	// (a bare "PRIVMSG #chat :..." NOTICE reads like a command).
	adminDo(t, s, http.MethodPatch, "/items/messages/"+id, map[string]any{"text": "second version\nPRIVMSG #chat :evil\nthird"})
	m := alice.Expect("NOTICE")
	if text(m) != `[edit] Carol edited a message, now: "second version" (and 2 more lines)` {
		t.Fatalf("edit notice = %q", text(m))
	}
	adminDo(t, s, http.MethodDelete, "/items/messages/"+id, nil)
	m = alice.Expect("NOTICE")
	if text(m) != `[delete] A message by Carol was deleted: "second version" (and 2 more lines)` {
		t.Fatalf("delete notice = %q (edit notices after the first line: wrong)", text(m))
	}
}

func TestLongMultilineMessageArrivesWhole(t *testing.T) {
	s := newStack(t, nil, nil)
	alice := login(t, s, "a", "alice", "alicepass")
	carol := s.web("carol@example.com", "carolpass")
	var lines []string
	for i := 0; len(strings.Join(lines, "\n")) < 5000; i++ {
		var words []string
		for j := 0; j < 120; j++ {
			words = append(words, fmt.Sprintf("l%dw%d", i, j))
		}
		lines = append(lines, strings.Join(words, " "))
	}
	long := strings.Join(lines, "\n")[:5000]
	carol.send(long)
	carol.send("after the long one")
	var got []string
	alice.ExpectFunc("the message after", func(m ircmsg.Message) bool {
		if m.Command != "PRIVMSG" {
			return false
		}
		if text(m) == "after the long one" {
			return true
		}
		got = append(got, text(m))
		return false
	})
	joined := strings.Join(got, " ")
	want := strings.Join(strings.Fields(long), " ")
	if strings.Join(strings.Fields(joined), " ") != want {
		t.Fatalf("long message arrived altered: %d pieces, %d bytes vs %d", len(got), len(joined), len(long))
	}
	if len(got) < len(lines) {
		t.Fatalf("%d pieces for %d lines", len(got), len(lines))
	}
}

func TestSameAccountOnTwoConnections(t *testing.T) {
	s := newStack(t, nil, nil)
	phone := login(t, s, "a1", "alice", "alicepass")
	laptop := login(t, s, "a2", "alice@example.com", "alicepass")
	if phone.Nick != "Alice" || laptop.Nick != "Alice" {
		t.Fatalf("nicks %q and %q, want both Alice", phone.Nick, laptop.Nick)
	}
	bob := login(t, s, "b", "bob", "bobpass")
	bob.Send("PRIVMSG", channel, "to both of you")
	expectPrivmsg(t, phone, "Bob", "to both of you")
	expectPrivmsg(t, laptop, "Bob", "to both of you")
	phone.Send("PRIVMSG", channel, "from my phone")
	noPrivmsgs(t, phone)
	expectPrivmsg(t, laptop, "Alice", "from my phone")
	expectPrivmsg(t, bob, "Alice", "from my phone")
}

func TestGuests(t *testing.T) {
	s := newStack(t, nil, func(c *config.Config) { c.Login.Guests, c.Login.GuestsMayPost = true, true })
	alice := login(t, s, "a", "alice", "alicepass")
	carol := s.web("carol@example.com", "carolpass")
	guest := irctest.Dial(t, s.d.addr)
	if nick := guest.RegisterPass("dan", ""); nick != "dan|guest" {
		t.Fatalf("guest nick = %q", nick)
	}
	guest.Join(channel)
	guest.Send("WHOIS", "dan|guest")
	for _, m := range guest.Sync() {
		if m.Command == "330" {
			t.Errorf("guest has an account in WHOIS: %v", m.Params)
		}
	}
	guest.Send("PRIVMSG", channel, "hello as a guest")
	noPrivmsgs(t, guest)
	expectPrivmsg(t, alice, "dan|guest", "hello as a guest")
	it := carol.created("<dan|guest> hello as a guest")
	if it["irc_nick"] != "dan|guest" {
		t.Fatalf("guest post stored as %v", it)
	}
	// A guest's CHATHISTORY is read with the bridge's token; without batch and server-time
	// it gets plain lines with the time in the text.
	guest.Send("CHATHISTORY", "LATEST", channel, "*", "5")
	hist := irctest.Privmsgs(guest.Sync(), channel)
	if len(hist) != 1 || from(hist[0]) != "dan|guest" || !strings.HasSuffix(text(hist[0]), "] hello as a guest") {
		t.Fatalf("guest's CHATHISTORY = %v", hist)
	}
	guest.Send("REDACT", channel, jsonID(it["id"]))
	if m := guest.Expect("FAIL"); m.Params[1] != "REDACT_FORBIDDEN" {
		t.Fatalf("guest REDACT: %v", m.Params)
	}
}

func TestGuestsOffRequiresLogin(t *testing.T) {
	s := newStack(t, nil, nil)
	if refusal, _ := irctest.Dial(t, s.d.addr).RegisterRefused("nobody", ""); !strings.Contains(refusal, "requires a login") {
		t.Fatalf("464 = %q", refusal)
	}
}

// A client retrying a wrong password cannot get the account suspended through the bridge.
func TestFailedLoginsAreThrottledBeforeDirectus(t *testing.T) {
	s := newStack(t, nil, func(c *config.Config) { c.Login.FailuresPerAccount = 3 })
	var last string
	for i := 0; i < 30; i++ {
		c := irctest.Dial(t, s.d.addr)
		c.Send("CAP", "LS", "302")
		c.Send("CAP", "REQ", "sasl")
		c.Send("NICK", "x")
		c.Send("USER", "u", "0", "*", "x")
		c.Send("AUTHENTICATE", "PLAIN")
		c.Expect("AUTHENTICATE")
		c.Send("AUTHENTICATE", irctest.SASLPlain("bob", "wrong"))
		last = text(c.Expect("904"))
		c.Close()
	}
	if !strings.Contains(last, "Too many failed logins") {
		t.Fatalf("last 904 = %q, want the throttle", last)
	}
	var users []struct{ Status string }
	raw := adminDo(t, s, http.MethodGet, "/users?filter[email][_eq]=bob@example.com&fields=status", nil)
	_ = json.Unmarshal(raw, &users)
	if len(users) != 1 || users[0].Status != "active" {
		t.Fatalf("bob after 30 failed IRC logins: %s", raw)
	}
}

func TestRevokedUserIsDisconnected(t *testing.T) {
	s := newStack(t, nil, func(c *config.Config) { c.Login.RevocationCheck = 500 * time.Millisecond })
	alice := login(t, s, "a", "alice", "alicepass")
	bob := login(t, s, "b", "bob", "bobpass")
	var users []struct{ ID string }
	_ = json.Unmarshal(adminDo(t, s, http.MethodGet, "/users?filter[email][_eq]=bob@example.com&fields=id", nil), &users)
	adminDo(t, s, http.MethodPatch, "/users/"+users[0].ID, map[string]any{"status": "suspended"})
	if reason := bob.Closed(); !strings.Contains(reason, "no longer active") {
		t.Fatalf("bob's ERROR = %q", reason)
	}
	alice.Send("PRIVMSG", channel, "alice is unaffected")
	if got := alice.Sync(); len(irctest.Privmsgs(got, channel)) != 0 {
		t.Fatalf("unexpected %v", got)
	}
}

// Directus ends a user's sessions when their password changes. The access token in hand
// stays valid until it expires; the refresh after that fails: the user is told and
// disconnected, others carry on.
func TestPasswordChangeEndsSession(t *testing.T) {
	const ttl = 15 * time.Second
	s := newStack(t, map[string]string{"ACCESS_TOKEN_TTL": "15s"}, nil)
	alice := login(t, s, "a", "alice", "alicepass")
	bob := login(t, s, "b", "bob", "bobpass")
	var users []struct{ ID string }
	_ = json.Unmarshal(adminDo(t, s, http.MethodGet, "/users?filter[email][_eq]=bob@example.com&fields=id", nil), &users)
	adminDo(t, s, http.MethodPatch, "/users/"+users[0].ID, map[string]any{"password": "a-new-password"})
	time.Sleep(ttl) // the wall-clock event under test: bob's access token expires
	bob.Send("PRIVMSG", channel, "am I still here?")
	m := bob.Expect("404")
	if !strings.Contains(text(m), "session has ended") {
		t.Fatalf("404 = %q", text(m))
	}
	if reason := bob.Closed(); !strings.Contains(reason, "log in again") {
		t.Fatalf("ERROR = %q", reason)
	}
	alice.Send("PRIVMSG", channel, "alice carries on")
	noPrivmsgs(t, alice)
	carol := login(t, s, "c", "carol", "carolpass")
	alice.Send("PRIVMSG", channel, "hello carol")
	expectPrivmsg(t, carol, "Alice", "hello carol")
}
