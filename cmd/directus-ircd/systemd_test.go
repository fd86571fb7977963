package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/directus-ircd/directus-ircd/internal/testdeps"
)

// The shipped systemd unit is what admins install: systemd must accept every directive in it
// (a misspelt hardening key is silently ignored by systemd, so any output is a failure), and
// its ExecStart must be a command line the daemon understands.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := testdeps.Program(t, "systemd-analyze", "run dev/test-deps.sh")
	unit, err := os.ReadFile("../../dist/directus-ircd.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := buildDaemon(t, dir)
	var execStart []string
	directives := map[string]string{}
	for _, line := range strings.Split(string(unit), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			directives[k] = v
		}
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			execStart = strings.Fields(v)
		}
	}
	// systemd waits for the daemon's READY=1 and watches its keep-alives (internal/sdnotify),
	// and does not restart it on a configuration error, which no restart can fix.
	for k, want := range map[string]string{
		"Type": "notify", "NotifyAccess": "main", "WatchdogSec": "30s",
		"RestartPreventExitStatus": strconv.Itoa(exitConfig), "ExecReload": "/bin/kill -HUP $MAINPID",
	} {
		if directives[k] != want {
			t.Errorf("%s=%s, want %s", k, directives[k], want)
		}
	}
	if len(execStart) < 2 || execStart[0] != "/usr/local/bin/directus-ircd" {
		t.Fatalf("ExecStart = %q, want /usr/local/bin/directus-ircd …", execStart)
	}
	// The daemon must parse ExecStart's arguments; with a config file that does not exist it
	// says so by name (and not "unknown command" or "flag provided but not defined").
	cfg := filepath.Join(dir, "missing.yaml")
	args := append([]string{}, execStart[1:]...)
	for i, a := range args {
		if a == "/etc/directus-ircd/config.yaml" {
			args[i] = cfg
		}
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), cfg) {
		t.Fatalf("%s %q: err=%v, output does not name the config file:\n%s", bin, args, err, out)
	}

	local := strings.ReplaceAll(string(unit), "/usr/local/bin/directus-ircd", bin)
	path := filepath.Join(dir, "directus-ircd.service")
	if err := os.WriteFile(path, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: err=%v\n%s", err, out)
	}
}
