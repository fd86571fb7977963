package bridge_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/directus-ircd/directus-ircd/bridge"
	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/internal/irctest"
)

func expectNotice(t *testing.T, c *irctest.Client, what, contains string) {
	t.Helper()
	c.ExpectFunc(what, func(m ircmsg.Message) bool {
		return m.Command == "NOTICE" && strings.Contains(text(m), contains)
	})
}

// A bridge token that Directus stops accepting while the daemon runs (an admin removed it,
// or a `setup` rotated it) is noticed within seconds, not at the next reconnect: the state
// says "token rejected", users are told, and when the token is restored the bridge recovers
// by itself.
func TestTokenRejectedWhileRunning(t *testing.T) {
	s := provisioned(t, nil)
	s.opts.TuneDirectus = func(c *directus.Config) { c.TokenCheck, c.RefusedRetry = time.Second, 2*time.Second }
	s.start()
	alice := login(t, s, "a", "alice", "alicepass")

	adminDo(t, s, http.MethodPatch, "/users/"+s.res.BridgeUserID, map[string]any{"token": nil})
	revoked := time.Now()
	st := waitState(t, s.d.Bridge(), bridge.StateTokenRejected, 10*time.Second)
	if !errors.Is(st.Err, directus.ErrInvalidCredentials) || strings.Contains(st.Err.Error(), s.res.BridgeToken) {
		t.Errorf("status error = %v, want ErrInvalidCredentials without the token", st.Err)
	}
	expectNotice(t, alice, "token notice", "rejects this server's token")
	t.Logf("FIGURES token rejected: state after %s", st.Since.Sub(revoked).Round(time.Millisecond))
	if s.d.Bridge().Ready() {
		t.Error("Ready() with a rejected token")
	}
	joinNotice(t, s, "bob", "directus.token") // joins after the change: told on JOIN

	adminDo(t, s, http.MethodPatch, "/users/"+s.res.BridgeUserID, map[string]any{"token": s.res.BridgeToken})
	waitState(t, s.d.Bridge(), bridge.StateReady, 20*time.Second)
	expectNotice(t, alice, "back notice", "reachable again")
}

// WebSockets turned off in Directus while the daemon runs (a change of its environment and a
// restart): REST works but the subscription cannot come back. The state says why, users are
// told (and again on JOIN), and the daemon recovers by itself once WebSockets are on again.
func TestWebSocketsDisabled(t *testing.T) {
	s := provisioned(t, nil)
	s.opts.TuneDirectus = func(c *directus.Config) { c.RefusedRetry = 2 * time.Second }
	s.start()
	alice := login(t, s, "a", "alice", "alicepass")

	s.dx.SetEnv("WEBSOCKETS_ENABLED", "false")
	s.dx.Restart(t)
	st := waitState(t, s.d.Bridge(), bridge.StateWebSocketsDisabled, 30*time.Second)
	if !errors.Is(st.Err, directus.ErrWebSocketsDisabled) || !strings.Contains(st.Err.Error(), "WEBSOCKETS_ENABLED") {
		t.Errorf("status error = %v, want ErrWebSocketsDisabled naming the setting", st.Err)
	}
	if got := st.State.String(); got != "websockets disabled" {
		t.Errorf("state string = %q", got)
	}
	expectNotice(t, alice, "websockets notice", "WebSockets turned off")
	joinNotice(t, s, "bob", "WebSockets turned off")

	s.dx.SetEnv("WEBSOCKETS_ENABLED", "true")
	s.dx.Restart(t)
	waitState(t, s.d.Bridge(), bridge.StateReady, 30*time.Second)
	expectNotice(t, alice, "back notice", "reachable again")
}

// joinNotice logs in as user, joins and expects a NOTICE containing want among what JOIN
// brings.
func joinNotice(t *testing.T, s *stack, user, want string) {
	t.Helper()
	c := irctest.Dial(t, s.d.addr)
	c.RegisterSASL(user, user, user+"pass")
	for _, m := range c.Join(channel) {
		if m.Command == "NOTICE" && strings.Contains(text(m), want) {
			return
		}
	}
	t.Errorf("%s got no NOTICE containing %q on JOIN", user, want)
}
