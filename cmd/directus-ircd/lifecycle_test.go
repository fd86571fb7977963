package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/internal/dtest"
	"github.com/directus-ircd/directus-ircd/internal/irctest"
	"github.com/directus-ircd/directus-ircd/internal/sdnotify/sdnotifytest"
)

// binary is the built daemon running with a config file, as an operator runs it.
type binary struct {
	cmd    *exec.Cmd
	w      *watched
	irc    string // IRC address
	health string // health endpoint address
	path   string // config file
}

// startBinary writes a config for dx (extra YAML lines go under the given sections) and
// starts the built daemon; it returns once the daemon is ready.
func startBinary(t *testing.T, bin string, dx *dtest.Instance, token, extra string) *binary {
	t.Helper()
	b := launchBinary(t, bin, dx, token, extra)
	waitReady(t, "http://"+b.health+"/readyz")
	return b
}

// launchBinary is startBinary without waiting for readiness; env is added to the daemon's.
func launchBinary(t *testing.T, bin string, dx *dtest.Instance, token, extra string, env ...string) *binary {
	t.Helper()
	dir := t.TempDir()
	b := &binary{irc: "127.0.0.1:" + freePort(t), path: filepath.Join(dir, "config.yaml"), health: "127.0.0.1:" + freePort(t)}
	health := b.health
	cfg := fmt.Sprintf("server:\n  listen: [%q]\n%sdirectus:\n  url: %s\n  token: %s\nhealth:\n  listen: %q\nlog:\n  format: json\n",
		b.irc, extra, dx.URL, token, health)
	if err := os.WriteFile(b.path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	b.cmd = exec.Command(bin, "run", "-config", b.path)
	b.cmd.Env = append(os.Environ(), env...)
	b.w = startWatched(t, b.cmd, func(line string) {
		t.Logf("daemon: %s", line)
		if strings.Contains(line, token) {
			t.Errorf("a log line shows the token: %s", line)
		}
	})
	t.Cleanup(func() { _ = b.cmd.Process.Kill() })
	return b
}

// stop sends SIGTERM and returns how long the daemon took to exit; it must exit 0.
func (b *binary) stop(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	b.w.waitExit(t, "after SIGTERM", 60*time.Second)
	return time.Since(start)
}

// adminGet reads a Directus REST path as the admin.
func adminGet(t *testing.T, dx *dtest.Instance, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, dx.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+dx.AdminToken(t))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct{ Data json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: HTTP %d %v", path, resp.StatusCode, err)
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		t.Fatal(err)
	}
}

func adminPatch(t *testing.T, dx *dtest.Instance, path string, body any) {
	t.Helper()
	adminWrite(t, dx, http.MethodPatch, path, body)
}

// adminWrite sends body as JSON to a Directus REST path as the admin.
func adminWrite(t *testing.T, dx *dtest.Instance, method, path string, body any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, dx.URL+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+dx.AdminToken(t))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 && resp.StatusCode != 204 {
		t.Fatalf("%s %s: %v %v", method, path, resp, err)
	}
	resp.Body.Close()
}

// userID is the id of the Directus user with this email.
func userID(t *testing.T, dx *dtest.Instance, email string) string {
	t.Helper()
	var users []struct{ ID string }
	adminGet(t, dx, "/users?fields=id&filter[email][_eq]="+url.QueryEscape(email), &users)
	if len(users) != 1 {
		t.Fatalf("%d users with the email %s", len(users), email)
	}
	return users[0].ID
}

// postAs logs in as login over IRC from the local address from, joins the channel and posts
// text with echo-message. The echo comes once Directus has stored the line, and carries the
// item's id: the stored item must have the text and the author email. It returns the client.
func postAs(t *testing.T, b *binary, dx *dtest.Instance, from, login, password, email, text string) *irctest.Client {
	t.Helper()
	c := irctest.DialFrom(t, from, b.irc)
	c.RegisterSASL("x", login, password)
	c.Send("CAP", "REQ", "echo-message")
	c.ExpectFunc("CAP ACK", func(m ircmsg.Message) bool { return m.Command == "CAP" && len(m.Params) > 1 && m.Params[1] == "ACK" })
	c.Join("#chat")
	c.Send("PRIVMSG", "#chat", text)
	echo := expectPrivmsg(t, c, c.Nick, text)
	ok, id := echo.GetTag("msgid")
	if !ok {
		t.Fatalf("the echo of %q has no msgid", text)
	}
	var item struct {
		Text        string
		UserCreated string `json:"user_created"`
	}
	adminGet(t, dx, "/items/messages/"+url.PathEscape(id)+"?fields=text,user_created", &item)
	if item.Text != text || item.UserCreated != userID(t, dx, email) {
		t.Fatalf("item %s is %q by %s, want %q by %s", id, item.Text, item.UserCreated, text, email)
	}
	return c
}

// expectPrivmsg waits for the channel PRIVMSG with this text and checks it comes from nick.
func expectPrivmsg(t *testing.T, c *irctest.Client, nick, text string) ircmsg.Message {
	t.Helper()
	m := c.ExpectFunc("PRIVMSG "+text, func(m ircmsg.Message) bool {
		return m.Command == "PRIVMSG" && len(m.Params) == 2 && m.Params[1] == text
	})
	if m.Nick() != nick {
		t.Fatalf("%q came from %s, want %s", text, m.Nick(), nick)
	}
	return m
}

// createAs creates a message over Directus's REST API as the user, as the web chat page does.
func createAs(t *testing.T, dx *dtest.Instance, email, password, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := directus.New(directus.Config{URL: dx.URL})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Login(ctx, email, password)
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	defer func() { _ = c.Logout(ctx, tok.Refresh) }()
	if _, err := c.CreateItem(ctx, tok.Access, "messages", map[string]any{"text": text}, []string{"id"}); err != nil {
		t.Fatalf("create as %s: %v", email, err)
	}
}

// storedTexts counts the stored items whose text starts with prefix, by text.
func storedTexts(t *testing.T, dx *dtest.Instance, prefix string) map[string]int {
	t.Helper()
	var rows []struct{ Text string }
	adminGet(t, dx, "/items/messages?fields=text&limit=-1&filter[text][_starts_with]="+url.QueryEscape(prefix), &rows)
	out := map[string]int{}
	for _, r := range rows {
		out[r.Text]++
	}
	return out
}

// refusedTexts reads everything the client receives until the server closes the connection
// and returns the lines refused by name (404 or FAIL MESSAGE_NOT_SENT) and the ERROR text.
func refusedTexts(c *irctest.Client) (map[string]bool, string) {
	refused := map[string]bool{}
	var reason string
	for {
		m, ok := c.Next(nil)
		if !ok {
			return refused, reason
		}
		last := ""
		if len(m.Params) > 0 {
			last = m.Params[len(m.Params)-1]
		}
		switch {
		case m.Command == "404" || m.Command == "FAIL" || m.Command == "NOTICE":
			if _, quoted, ok := strings.Cut(last, `: "`); ok && strings.Contains(last, "not") {
				refused[strings.TrimSuffix(quoted, `"`)] = true
			}
		case m.Command == "ERROR":
			reason = last
		}
	}
}

// SIGTERM during a burst, as a systemctl restart or docker stop does it: every line the
// client sent is stored once or refused by name; none is lost, none doubled; exit 0. The
// daemon runs with the default flood control, so part of a burst waits in fake lag when
// the signal comes.
func TestSIGTERMDuringABurstStoresOrRefusesEveryLine(t *testing.T) {
	dx, res := dtest.StartProvisioned(t, dtest.Options{})
	bin := buildDaemon(t, "")
	for _, tc := range []struct {
		lines int
		delay time.Duration // between the last line sent and SIGTERM
	}{
		{40, 50 * time.Millisecond},
		{10, 0},
	} {
		t.Run(fmt.Sprintf("%d lines, SIGTERM after %s", tc.lines, tc.delay), func(t *testing.T) {
			b := startBinary(t, bin, dx, res.BridgeToken, "")
			alice := irctest.Dial(t, b.irc)
			alice.RegisterSASL("a", "alice", "alicepass")
			alice.Join("#chat")
			prefix := fmt.Sprintf("burst%d-", tc.lines)
			for i := 1; i <= tc.lines; i++ {
				alice.Send("PRIVMSG", "#chat", fmt.Sprintf("%s%d", prefix, i))
			}
			time.Sleep(tc.delay) // the scenario: the signal comes this long after the burst
			took := b.stop(t)
			refused, reason := refusedTexts(alice)
			if !strings.Contains(reason, "shutting down") {
				t.Errorf("ERROR = %q", reason)
			}
			stored := storedTexts(t, dx, prefix)
			lost := 0
			for i := 1; i <= tc.lines; i++ {
				text := fmt.Sprintf("%s%d", prefix, i)
				switch n := stored[text]; {
				case n > 1:
					t.Errorf("%s stored %d times", text, n)
				case n == 1 && refused[text]:
					t.Errorf("%s stored and also refused", text)
				case n == 0 && !refused[text]:
					t.Errorf("%s neither stored nor refused", text)
					lost++
				}
			}
			t.Logf("FIGURES sigterm %d lines: stored %d, refused by name %d, lost %d; exit after %s",
				tc.lines, len(stored), len(refused), lost, took.Round(time.Millisecond))
		})
	}
}

// With Directus frozen (SIGSTOP: no answer, no error), SIGTERM still ends the daemon within
// server.shutdown_timeout, with exit status 0.
func TestShutdownIsBoundedWhenDirectusIsFrozen(t *testing.T) {
	dx, res := dtest.StartProvisioned(t, dtest.Options{})
	bin := buildDaemon(t, "")
	b := startBinary(t, bin, dx, res.BridgeToken, "  shutdown_timeout: 3s\n")
	alice := irctest.Dial(t, b.irc)
	alice.RegisterSASL("a", "alice", "alicepass")
	alice.Join("#chat")
	bob := irctest.Dial(t, b.irc)
	bob.RegisterPass("b", "bob:bobpass")
	dx.Pause(t)
	t.Cleanup(func() { dx.Resume(t) })
	alice.Send("PRIVMSG", "#chat", "into the void")
	took := b.stop(t)
	if took > 3*time.Second+1500*time.Millisecond {
		t.Fatalf("shutdown took %s with shutdown_timeout 3s", took)
	}
	t.Logf("FIGURES shutdown with Directus frozen: %s (timeout 3s)", took.Round(time.Millisecond))
}

// Wrong static tokens from many addresses do not keep a valid token out.
func TestBadTokensFromOthersDoNotLockOutAValidToken(t *testing.T) {
	dx, res := dtest.StartProvisioned(t, dtest.Options{})
	const carolToken = "carols-static-token-0123456789"
	adminPatch(t, dx, "/users/"+userID(t, dx, dtest.CarolEmail), map[string]any{"token": carolToken})
	b := startBinary(t, buildDaemon(t, ""), dx, res.BridgeToken, "")
	for i := 2; i <= 9; i++ {
		c := irctest.DialFrom(t, fmt.Sprintf("127.0.0.%d", i), b.irc)
		if refusal, _ := c.RegisterRefused("x", fmt.Sprintf("token:wrong-%d", i)); !strings.Contains(refusal, "Invalid Directus token") {
			t.Fatalf("bad token %d: %q", i, refusal)
		}
	}
	carol := irctest.DialFrom(t, "127.0.0.20", b.irc)
	if nick := carol.RegisterPass("c", "token:"+carolToken); nick != "Carol" {
		t.Fatalf("valid token logged in as %q", nick)
	}
}

// An ordinary user with a script cannot lock another out through the daemon: 40 parallel and
// 40 sequential wrong passwords for carol from four addresses reach Directus at most the
// budget's 10 + 5 times, carol stays active, and she logs in from a fresh address and posts.
// Directus is the witness: with auth_login_attempts at 16 it suspends carol at her 17th
// attempt since her last success, so her own login after the attack proves that at most 15
// wrong ones reached it. The daemon's metrics must count the same attempts as the replies.
func TestPasswordSprayDoesNotLockOutTheOwner(t *testing.T) {
	dx, res := dtest.StartProvisioned(t, dtest.Options{})
	adminPatch(t, dx, "/settings", map[string]any{"auth_login_attempts": 16})
	b := startBinary(t, buildDaemon(t, ""), dx, res.BridgeToken, "")
	from := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}
	replies := irctest.SprayPasswords(t, b.irc, from, "carol", 40, 40)
	reached := 0
	for _, r := range replies {
		if strings.Contains(r, "Invalid email or password") {
			reached++
		}
	}
	v := scrapeMetrics(t, b.health)
	badCredentials := v[`directus_ircd_login_failures_total{reason="bad_credentials"}`]
	throttled := v[`directus_ircd_login_failures_total{reason="throttled"}`]
	t.Logf("FIGURES password spray on the binary: %d attempts, %d reached Directus, %v throttled", len(replies), reached, throttled)
	if badCredentials != float64(reached) || badCredentials+throttled != float64(len(replies)) {
		t.Errorf("metrics: %v bad credentials and %v throttled; the replies: %d of %d reached Directus",
			badCredentials, throttled, reached, len(replies))
	}
	if reached > 15 {
		t.Errorf("%d wrong passwords reached Directus, budget 10 + 5", reached)
	}
	var carol struct{ Status string }
	adminGet(t, dx, "/users/"+userID(t, dx, dtest.CarolEmail)+"?fields=status", &carol)
	if carol.Status != "active" {
		t.Fatalf("carol is %s after the attack", carol.Status)
	}
	postAs(t, b, dx, "127.0.0.99", "carol", dtest.CarolPassword, dtest.CarolEmail, "still carol's account")
}

// A token that Directus does not accept is a configuration error: exit status 78
// (EX_CONFIG), which the systemd unit does not restart, with a message naming the key.
func TestRejectedTokenExitsWithEXCONFIG(t *testing.T) {
	dx := dtest.Start(t, dtest.Options{})
	bin := buildDaemon(t, "")
	cmd := exec.Command(bin, "run")
	cmd.Env = append(os.Environ(), "DIRECTUS_IRCD_DIRECTUS_URL="+dx.URL, "DIRECTUS_IRCD_DIRECTUS_TOKEN=wrong-token-value",
		"DIRECTUS_IRCD_SERVER_LISTEN=127.0.0.1:0", "DIRECTUS_IRCD_LOG_FORMAT=json")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 78 {
		t.Fatalf("exit %v, want 78; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "directus.token") || strings.Contains(string(out), "wrong-token-value") {
		t.Fatalf("output does not name directus.token, or shows the token:\n%s", out)
	}
}

// Under systemd (Type=notify) the daemon says READY=1 only once the Directus subscription is
// live, RELOADING=1 then READY=1 around a SIGHUP reload, and STOPPING=1 on SIGTERM.
func TestSystemdNotifyFollowsTheLifecycle(t *testing.T) {
	dx, res := dtest.StartProvisioned(t, dtest.Options{})
	bin := buildDaemon(t, "")
	sock := sdnotifytest.Listen(t, "")
	dx.Pause(t)
	b := launchBinary(t, bin, dx, res.BridgeToken, "", sock.Env())
	b.w.waitLine(t, "listening for IRC clients", 60*time.Second)
	// Directus is frozen: the daemon serves IRC but is not ready. Nothing to await here but
	// the absence of READY, so look for a short while.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if sock.Pending(t) {
			if msg := sock.Next(t, time.Second); slices.Contains(msg, "READY=1") {
				t.Fatalf("READY=1 while Directus is frozen: %v", msg)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	dx.Resume(t)
	ready := sock.NextWith(t, "READY=1", 90*time.Second)
	if !slices.ContainsFunc(ready, func(s string) bool { return strings.Contains(s, "subscription live") }) {
		t.Fatalf("READY without the live status: %v", ready)
	}
	if resp, err := http.Get("http://" + b.health + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz after READY=1: %v %v", resp, err)
	}
	_ = b.cmd.Process.Signal(syscall.SIGHUP)
	sock.NextWith(t, "RELOADING=1", 30*time.Second)
	sock.NextWith(t, "READY=1", 30*time.Second)
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	sock.NextWith(t, "STOPPING=1", 30*time.Second)
	b.w.waitExit(t, "after SIGTERM", 60*time.Second)
}
