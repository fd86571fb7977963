package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/internal/dtest"
)

// setupRun is one run of the built binary's setup command.
type setupRun struct {
	code           int
	stdout, stderr string
}

func runSetup(t *testing.T, bin string, in *dtest.Instance, env []string, args ...string) setupRun {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"setup", "-url", in.URL, "-demo-users"}, args...)...)
	// exec keeps the last of duplicate variables: env overrides these.
	cmd.Env = append(os.Environ(), "DIRECTUS_ADMIN_EMAIL="+in.AdminEmail, "DIRECTUS_ADMIN_PASSWORD="+in.AdminPassword,
		"DIRECTUS_IRCD_DIRECTUS_TOKEN=")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := setupRun{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("setup: %v", err)
	}
	t.Logf("setup %s → exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

var newTokenLine = regexp.MustCompile(`new bridge token \(put it in DIRECTUS_IRCD_DIRECTUS_TOKEN or directus.token\): (\S+)`)

// The README's systemd flow: setup prints the token, the admin puts it in the daemon's
// environment, and later setups, run while the daemon runs, get it from there (or -token, or
// -config with the daemon's config file, as make run does) and keep it, so the running daemon
// goes on working: new logins post as themselves, open connections receive what others
// create. Without the token setup refuses to replace it and the daemon is unaffected;
// -rotate-token replaces it and says that daemons need the new one.
func TestSetupKeepsTheBridgeToken(t *testing.T) {
	in := dtest.Start(t, dtest.Options{})
	bin := buildDaemon(t, "")

	first := runSetup(t, bin, in, nil)
	m := newTokenLine.FindStringSubmatch(first.stdout)
	if first.code != 0 || m == nil {
		t.Fatalf("first setup: exit %d, no new token printed", first.code)
	}
	token := m[1]
	const note = "A running directus-ircd that uses the old token cannot reconnect"
	if strings.Contains(first.stdout, note) {
		t.Errorf("first setup warns of a replaced token, but there was none")
	}

	b := startBinary(t, bin, in, token, "")
	alice := postAs(t, b, in, "127.0.0.1", "alice", dtest.AlicePassword, dtest.AliceEmail, "before the second setup")

	for i, r := range []setupRun{
		runSetup(t, bin, in, []string{"DIRECTUS_IRCD_DIRECTUS_TOKEN=" + token}),
		runSetup(t, bin, in, nil, "-token", token),
	} {
		if r.code != 0 || !strings.Contains(r.stdout, "the given one works and was kept") ||
			!strings.Contains(r.stdout, "nothing to change") || strings.Contains(r.stdout, note) {
			t.Errorf("setup %d: exit %d, token not kept or changes made", i+2, r.code)
		}
		if strings.Contains(r.stdout+r.stderr, token) {
			t.Errorf("setup %d printed the token it was given", i+2)
		}
	}
	// -config: the token comes from the daemon's own config file, which setup writes back;
	// the daemon reloads it.
	r := runSetup(t, bin, in, nil, "-config", b.path)
	if r.code != 0 || !strings.Contains(r.stdout, "authenticates the bridge user: kept") ||
		!strings.Contains(r.stdout, "bridge token written to "+b.path) || strings.Contains(r.stdout+r.stderr, token) {
		t.Errorf("setup -config: exit %d, token not kept, or printed", r.code)
	}
	_ = b.cmd.Process.Signal(syscall.SIGHUP)
	b.w.waitLine(t, "configuration reloaded", 60*time.Second)

	forgot := runSetup(t, bin, in, nil)
	if forgot.code != 1 || !strings.Contains(forgot.stderr, "already has a static token") ||
		!strings.Contains(forgot.stderr, "DIRECTUS_IRCD_DIRECTUS_TOKEN") || !strings.Contains(forgot.stderr, "-rotate-token") {
		t.Errorf("setup without the token: exit %d, want 1 and a refusal naming DIRECTUS_IRCD_DIRECTUS_TOKEN and -rotate-token", forgot.code)
	}
	assertTokenServesTheBridge(t, in, token)
	if resp, err := http.Get("http://" + b.health + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz after the setups: %v %v", resp, err)
	}
	postAs(t, b, in, "127.0.0.1", "carol", dtest.CarolPassword, dtest.CarolEmail, "a new login after the setups")
	expectPrivmsg(t, alice, "Carol", "a new login after the setups")
	// A user the daemon has not seen writes on the web page: the line comes through the
	// subscription, and the daemon reads its author's name with its token, then and there.
	var role []struct{ Role string }
	adminGet(t, in, "/users?fields=role&filter[email][_eq]="+dtest.AliceEmail, &role)
	adminWrite(t, in, http.MethodPost, "/users", map[string]any{"email": "dora@example.com", "password": "dorapass",
		"first_name": "Dora", "role": role[0].Role})
	createAs(t, in, "dora@example.com", "dorapass", "from the web after the setups")
	expectPrivmsg(t, alice, "Dora", "from the web after the setups")
	b.stop(t)

	rotated := runSetup(t, bin, in, []string{"DIRECTUS_IRCD_DIRECTUS_TOKEN=" + token}, "-rotate-token")
	m = newTokenLine.FindStringSubmatch(rotated.stdout)
	if rotated.code != 0 || m == nil || m[1] == token || !strings.Contains(rotated.stdout, note) {
		t.Fatalf("setup -rotate-token: exit %d, new token printed %v, note %v", rotated.code, m != nil, strings.Contains(rotated.stdout, note))
	}
	c, err := directus.New(directus.Config{URL: in.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Me(context.Background(), token); !errors.Is(err, directus.ErrInvalidCredentials) {
		t.Errorf("the rotated-away token still works: %v", err)
	}
	assertTokenServesTheBridge(t, in, m[1])
}

// assertTokenServesTheBridge: the token authenticates the bridge user and can read the
// collection with the fields the bridge reads and subscribe to it.
func assertTokenServesTheBridge(t *testing.T, in *dtest.Instance, token string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := directus.New(directus.Config{URL: in.URL})
	if err != nil {
		t.Fatal(err)
	}
	if me, err := c.Me(ctx, token); err != nil || me.Email != "directus-ircd-bridge@example.com" {
		t.Fatalf("token: /users/me %v %+v", err, me)
	}
	fields := []string{"id", "text", "date_created", "irc_nick", "irc_key", "user_created"}
	if _, err := c.ReadItems(ctx, token, "messages", directus.Query{Fields: fields}); err != nil {
		t.Fatalf("token: read messages: %v", err)
	}
	ws, err := c.Dial(ctx, directus.Credentials{StaticToken: token})
	if err != nil {
		t.Fatalf("token: websocket: %v", err)
	}
	defer ws.Close()
	if _, err := ws.Subscribe(ctx, "messages", directus.Query{Fields: fields}); err != nil {
		t.Fatalf("token: subscribe: %v", err)
	}
}

// A Directus without WebSockets: setup refuses, naming the setting to change.
func TestSetupRefusesWithoutWebSockets(t *testing.T) {
	in := dtest.Start(t, dtest.Options{Env: map[string]string{"WEBSOCKETS_ENABLED": "false"}})
	r := runSetup(t, buildDaemon(t, ""), in, nil)
	if r.code != 1 || !strings.Contains(r.stderr, "set WEBSOCKETS_ENABLED=true in Directus's environment") {
		t.Errorf("exit %d, want 1 and the setting named", r.code)
	}
}

// Secrets from the environment are not flag defaults, so `setup -h` never prints them.
func TestSetupHelpHidesSecrets(t *testing.T) {
	env := []string{"DIRECTUS_ADMIN_TOKEN=admin-tok-4711", "DIRECTUS_ADMIN_PASSWORD=admin-pw-4711", "DIRECTUS_IRCD_DIRECTUS_TOKEN=bridge-tok-4711"}
	var out, errOut bytes.Buffer
	setup([]string{"-h"}, env, &out, &errOut)
	if help := out.String() + errOut.String(); strings.Contains(help, "4711") || !strings.Contains(help, "-rotate-token") {
		t.Errorf("help shows a secret or lacks -rotate-token:\n%s", help)
	}
}
