package bridge_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/directus-ircd/directus-ircd/internal/config"
	"github.com/directus-ircd/directus-ircd/internal/irctest"
)

// userID looks a user up by email as the admin.
func userID(t *testing.T, s *stack, email string) string {
	t.Helper()
	var users []struct{ ID string }
	_ = json.Unmarshal(adminDo(t, s, http.MethodGet, "/users?filter[email][_eq]="+email+"&fields=id", nil), &users)
	if len(users) != 1 {
		t.Fatalf("user %s not found", email)
	}
	return users[0].ID
}

// Every login form reaches Directus as that user: SASL with odd passwords, PASS
// email:password, PASS with a static token (with and without the token: prefix).
func TestLoginForms(t *testing.T) {
	s := newStack(t, nil, nil)
	// Passwords go to Directus untouched: spaces, colons, non-ASCII, long.
	odd := "pässwörd with spaces: and colons 🎉 " + strings.Repeat("x", 300)
	adminDo(t, s, http.MethodPatch, "/users/"+userID(t, s, "carol@example.com"), map[string]any{"password": odd})
	carol := irctest.Dial(t, s.d.addr)
	if nick := carol.RegisterSASL("c", "carol", odd); nick != "Carol" {
		t.Fatalf("SASL with an odd password: nick %q", nick)
	}
	carol.Join(channel)
	viaPass := irctest.Dial(t, s.d.addr)
	if nick := viaPass.RegisterPass("c2", "carol@example.com:"+odd); nick != "Carol" {
		t.Fatalf("PASS with an odd password: nick %q", nick)
	}

	adminDo(t, s, http.MethodPatch, "/users/"+userID(t, s, "bob@example.com"), map[string]any{"token": "bobs-static-token-123"})
	for _, pass := range []string{"token:bobs-static-token-123", "bobs-static-token-123"} {
		c := irctest.Dial(t, s.d.addr)
		if nick := c.RegisterPass("b", pass); nick != "Bob" {
			t.Fatalf("PASS %s…: nick %q", pass[:6], nick)
		}
		c.Join(channel)
		c.Send("PRIVMSG", channel, "sent with a static token")
		expectPrivmsg(t, carol, "Bob", "sent with a static token")
	}
	refusal, reason := irctest.Dial(t, s.d.addr).RegisterRefused("x", "token:wrong")
	if !strings.Contains(refusal, "Invalid Directus token") {
		t.Fatalf("464 = %q", refusal)
	}
	if reason == "" || strings.Contains(reason, "wrong") {
		t.Fatalf("ERROR = %q", reason)
	}
}

func TestServerPassword(t *testing.T) {
	s := newStack(t, nil, func(c *config.Config) { c.Login.ServerPassword = "letmein" })
	// A login is not the server password.
	if refusal, _ := irctest.Dial(t, s.d.addr).RegisterRefused("a", "alice:alicepass"); !strings.Contains(refusal, "server password") {
		t.Fatalf("464 = %q", refusal)
	}
	if refusal, _ := irctest.Dial(t, s.d.addr).RegisterRefused("a", "letmein"); !strings.Contains(refusal, "use SASL PLAIN") {
		t.Fatalf("464 without SASL = %q", refusal)
	}
	ok := irctest.Dial(t, s.d.addr)
	ok.Send("PASS", "letmein")
	if nick := ok.RegisterSASL("a", "alice", "alicepass"); nick != "Alice" {
		t.Fatalf("server password + SASL: nick %q", nick)
	}
}
