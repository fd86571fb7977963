package bridge_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/internal/irctest"
	"github.com/directus-ircd/directus-ircd/internal/provision"
)

func expectRedact(t *testing.T, c *irctest.Client, by, id string) ircmsg.Message {
	t.Helper()
	m := c.Expect("REDACT")
	if from(m) != by || m.Params[0] != channel || m.Params[1] != id {
		t.Fatalf("%s got %v, want REDACT %s %s from %s", c.Nick, m, channel, id, by)
	}
	return m
}

func expectRedactFail(t *testing.T, c *irctest.Client, code string) ircmsg.Message {
	t.Helper()
	m := c.ExpectFunc("FAIL REDACT", func(m ircmsg.Message) bool { return m.Command == "FAIL" || m.Command == "REDACT" })
	if m.Command != "FAIL" || m.Params[0] != "REDACT" || m.Params[1] != code {
		t.Fatalf("%s got %v, want FAIL REDACT %s", c.Nick, m, code)
	}
	return m
}

// say sends a line from c and returns its msgid, as another client with message-tags sees it.
func say(t *testing.T, c, other *irctest.Client, line string) string {
	t.Helper()
	c.Send("PRIVMSG", channel, line)
	return msgid(t, expectPrivmsg(t, other, c.Nick, line))
}

// REDACT from IRC deletes the item in Directus as the user: refused while Directus does not
// let chat users delete, then (setup -allow-redact) allowed for the author and for a Directus
// admin, refused for anyone else. Deletes from anywhere reach redaction clients as REDACT and
// others as the NOTICE.
func TestRedact(t *testing.T) {
	s := newStack(t, nil, nil)
	caps := []string{"draft/message-redaction", "batch"}
	alice := loginCaps(t, s, "alice", "alicepass", caps...)
	bob := loginCaps(t, s, "bob", "bobpass", caps...)
	old := irctest.Dial(t, s.d.addr)
	old.RegisterPass("c", "carol:carolpass")
	old.Join(channel)
	web := s.web("carol@example.com", "carolpass")

	first := say(t, alice, bob, "not deletable yet")
	alice.Send("REDACT", channel, first)
	if m := expectRedactFail(t, alice, "REDACT_FORBIDDEN"); !strings.Contains(text(m), "setup -allow-redact") {
		t.Fatalf("refusal = %q", text(m))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := provision.Run(ctx, provision.Options{URL: s.dx.URL, AdminEmail: s.dx.AdminEmail, AdminPassword: s.dx.AdminPassword,
		BridgeToken: s.res.BridgeToken, AllowRedact: true, Out: logWriter{t}}); err != nil {
		t.Fatalf("setup -allow-redact: %v", err)
	}

	t.Run("by the author", func(t *testing.T) {
		id := say(t, alice, bob, "oops, wrong window")
		waitText(t, old, "PRIVMSG", "oops, wrong window")
		alice.Send("REDACT", channel, id, "typo")
		if m := expectRedact(t, bob, "Alice", id); text(m) != "typo" {
			t.Fatalf("reason = %q", text(m))
		}
		expectRedact(t, alice, "Alice", id)
		waitText(t, old, "NOTICE", `[delete] A message by Alice was deleted: "oops, wrong window"`)
		e := web.next(directus.EventDelete)
		if len(e.IDs) != 1 || e.IDs[0] != id {
			t.Fatalf("web page got delete of %v, want %s", e.IDs, id)
		}
		// The subscription's delete event is not announced a second time.
		if got := bob.Sync(); len(got) != 0 {
			t.Fatalf("bob got more: %v", got)
		}
	})
	t.Run("by someone else", func(t *testing.T) {
		id := say(t, alice, bob, "mine")
		bob.Send("REDACT", channel, id)
		if m := expectRedactFail(t, bob, "REDACT_FORBIDDEN"); !strings.Contains(text(m), "only your own") {
			t.Fatalf("refusal = %q", text(m))
		}
		bob.Send("REDACT", channel, "999999")
		expectRedactFail(t, bob, "UNKNOWN_MSGID")
		bob.Send("REDACT", "#other", id)
		expectRedactFail(t, bob, "INVALID_TARGET")
	})
	t.Run("by a Directus admin", func(t *testing.T) {
		addAdmin(t, s, "root@example.com", "Root")
		root := loginCaps(t, s, "root", "pw-Root", caps...)
		id := say(t, alice, bob, "moderate me")
		root.Send("REDACT", channel, id, "off topic")
		expectRedact(t, bob, "Root", id)
		expectRedact(t, root, "Root", id)
	})
	t.Run("a delete over REST", func(t *testing.T) {
		id := say(t, alice, bob, "deleted elsewhere")
		waitText(t, old, "PRIVMSG", "deleted elsewhere")
		adminDo(t, s, http.MethodDelete, "/items/messages/"+id, nil)
		expectRedact(t, bob, "irc.test", id)
		waitText(t, old, "NOTICE", `[delete] A message by Alice was deleted: "deleted elsewhere"`)
	})
}

// waitText waits for a command with this text, skipping other traffic.
func waitText(t *testing.T, c *irctest.Client, command, want string) {
	t.Helper()
	c.ExpectFunc(command+" "+want, func(m ircmsg.Message) bool { return m.Command == command && text(m) == want })
}

// addAdmin creates a user whose role's policy has admin access.
func addAdmin(t *testing.T, s *stack, email, first string) {
	t.Helper()
	var pol struct{ ID string }
	_ = json.Unmarshal(adminDo(t, s, http.MethodPost, "/policies", map[string]any{"name": "p-" + first, "app_access": true, "admin_access": true}), &pol)
	var role struct{ ID string }
	_ = json.Unmarshal(adminDo(t, s, http.MethodPost, "/roles", map[string]any{"name": "r-" + first, "policies": []map[string]any{{"policy": pol.ID}}}), &role)
	adminDo(t, s, http.MethodPost, "/users", map[string]any{"email": email, "password": "pw-" + first, "first_name": first, "role": role.ID, "status": "active"})
}

// logWriter sends setup's progress to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Logf("setup: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// A multiline batch from a client becomes one item with newlines; it reaches another
// draft/multiline client as one batch and a client without it as separate lines.
func TestMultiline(t *testing.T) {
	s := newStack(t, nil, nil)
	caps := []string{"draft/multiline", "batch"}
	alice := loginCaps(t, s, "alice", "alicepass", caps...)
	bob := loginCaps(t, s, "bob", "bobpass", caps...)
	old := irctest.Dial(t, s.d.addr)
	old.RegisterPass("c", "carol:carolpass")
	old.Join(channel)

	lines := []string{"one", "two", "three", "four", "five"}
	sendTagged(t, alice, nil, "BATCH", "+ml1", "draft/multiline", channel)
	for _, l := range lines {
		sendTagged(t, alice, map[string]string{"batch": "ml1"}, "PRIVMSG", channel, l)
	}
	sendTagged(t, alice, nil, "BATCH", "-ml1")
	noPrivmsgs(t, alice)

	start := bob.Expect("BATCH")
	if len(start.Params) < 3 || start.Params[1] != "draft/multiline" || start.Params[2] != channel || from(start) != "Alice" {
		t.Fatalf("bob got %v, want a draft/multiline batch from Alice", start)
	}
	id := msgid(t, start)
	var got []string
	bob.ExpectFunc("end of batch", func(m ircmsg.Message) bool {
		if m.Command == "BATCH" {
			return m.Params[0] == "-"+start.Params[0][1:]
		}
		if ok, b := m.GetTag("batch"); m.Command != "PRIVMSG" || !ok || "+"+b != start.Params[0] {
			t.Errorf("bob got %v inside the batch", m)
		}
		got = append(got, text(m))
		return false
	})
	if strings.Join(got, "|") != strings.Join(lines, "|") {
		t.Fatalf("bob's batch = %q", got)
	}
	for _, l := range lines {
		expectPrivmsg(t, old, "Alice", l)
	}
	it := newestItem(t, s)
	if it["text"] != strings.Join(lines, "\n") || jsonID(it["id"]) != id {
		t.Fatalf("newest item = %v, want one item %s with the 5 lines", it, id)
	}

	t.Run("limits", func(t *testing.T) {
		sendTagged(t, alice, nil, "BATCH", "+ml2", "draft/multiline", channel)
		for i := 0; i < 21; i++ {
			sendTagged(t, alice, map[string]string{"batch": "ml2"}, "PRIVMSG", channel, "x")
		}
		sendTagged(t, alice, nil, "BATCH", "-ml2")
		if m := alice.Expect("FAIL"); m.Params[0] != "BATCH" || m.Params[1] != "MULTILINE_MAX_LINES" {
			t.Fatalf("21 lines: %v", m)
		}
		noPrivmsgs(t, bob)
	})
}

func jsonID(v any) string {
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}
