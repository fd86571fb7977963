package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/directus-ircd/directus-ircd/internal/dtest"
	"github.com/directus-ircd/directus-ircd/internal/irctest"
	"github.com/directus-ircd/directus-ircd/internal/testdeps"
)

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("directus:\n  token: very-secret-token\n  url: https://proxyuser:proxy-secret@127.0.0.1:8055\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("directus:\n  tokne: x\n"), 0o600)

	var out, errOut bytes.Buffer
	if code := run([]string{"check-config", "-config", good}, nil, &out, &errOut); code != 0 {
		t.Fatalf("valid config: exit %d: %s", code, errOut.String())
	}
	if strings.Contains(out.String(), "very-secret-token") || strings.Contains(out.String(), "proxy") ||
		!strings.Contains(out.String(), "https://********@127.0.0.1:8055") || !strings.Contains(out.String(), "channel") {
		t.Fatalf("check-config output shows the secret or no config:\n%s", out.String())
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"check-config", "-config", bad}, nil, &out, &errOut); code != exitConfig || !strings.Contains(errOut.String(), "tokne") {
		t.Fatalf("bad config: exit %d, stderr %q; want %d naming the key", code, errOut.String(), exitConfig)
	}
	errOut.Reset()
	if code := run([]string{"check-config"}, []string{"DIRECTUS_IRCD_DIRECTUS_TOKEN=t", "DIRECTUS_IRCD_CHANNEL_NAME=nochan"}, &out, &errOut); code != exitConfig || !strings.Contains(errOut.String(), "channel.name") {
		t.Fatalf("bad env: exit %d, stderr %q", code, errOut.String())
	}
}

// A config without directus.token: run explains how to get one and exits EX_CONFIG (the
// systemd unit does not restart on it); check-config says exactly the same, so that an
// operator who checks first is not surprised by run.
func TestWithoutTokenRunAndCheckConfigFailAlike(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "notoken.yaml")
	os.WriteFile(cfg, []byte("channel:\n  topic: no token here\n"), 0o600)
	var runErr, checkErr, checkOut bytes.Buffer
	runCode := run([]string{"run", "-config", cfg}, nil, &bytes.Buffer{}, &runErr)
	if runCode != exitConfig || !strings.Contains(runErr.String(), "directus.token") || !strings.Contains(runErr.String(), "directus-ircd setup") {
		t.Fatalf("run: exit %d, stderr %q; want %d naming directus.token and setup", runCode, runErr.String(), exitConfig)
	}
	checkCode := run([]string{"check-config", "-config", cfg}, nil, &checkOut, &checkErr)
	if checkCode != runCode || checkErr.String() != runErr.String() || checkOut.Len() != 0 {
		t.Fatalf("check-config: exit %d, stderr %q, stdout %q; want run's exit %d and stderr %q", checkCode, checkErr.String(), checkOut.String(), runCode, runErr.String())
	}
}

// The CLI conventions of the built binary: help and version never start the daemon and exit
// 0; the version is the one the build stamped (as the Makefile does), with commit and Go
// version; a subcommand's -h prints its flags and exits 0; an unknown command exits 2.
func TestBinaryHelpAndVersion(t *testing.T) {
	const pkg = "github.com/directus-ircd/directus-ircd/internal/version"
	bin := buildDaemon(t, "", "-ldflags", "-X "+pkg+".version=v1.2.3-test -X "+pkg+".commit=abcdef0")
	tests := []struct {
		args     []string
		code     int
		stdout   string // a substring
		stderr   string
		noStdout bool
	}{
		{args: []string{"--version"}, stdout: "directus-ircd v1.2.3-test (commit abcdef0, go1."},
		{args: []string{"version"}, stdout: "directus-ircd v1.2.3-test (commit abcdef0, go1."},
		{args: []string{"-h"}, stdout: "usage:\n  directus-ircd [run] [-config FILE]"},
		{args: []string{"--help"}, stdout: "usage:\n  directus-ircd [run] [-config FILE]"},
		{args: []string{"help"}, stdout: "usage:\n  directus-ircd [run] [-config FILE]"},
		{args: []string{"run", "-h"}, stderr: "-config", noStdout: true},
		{args: []string{"check-config", "--help"}, stderr: "-config", noStdout: true},
		{args: []string{"bogus"}, code: exitUsage, stderr: `unknown command "bogus"`, noStdout: true},
		{args: []string{"run", "-bogus"}, code: exitUsage, stderr: "flag provided but not defined", noStdout: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = []string{} // nothing from the environment that could start a daemon
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code || !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) || (tt.noStdout && stdout.Len() > 0) {
				t.Fatalf("exit %d (want %d)\nstdout: %q (want %q)\nstderr: %q (want %q)", code, tt.code, stdout.String(), tt.stdout, stderr.String(), tt.stderr)
			}
		})
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// What a newcomer does: `make run` (dev/run.sh), then an IRC client logs in, joins and
// talks; Ctrl-C stops the daemon and Directus, and so does a TERM to the script alone (a
// supervisor or `kill`), which once left the daemon running.
func TestMakeRunAnswersAnIRCClient(t *testing.T) {
	root, _ := filepath.Abs("../..")
	_, err := os.Stat(filepath.Join(root, ".directus", "template.db"))
	testdeps.Require(t, err == nil, "local Directus not installed: run `make test`")
	// In the PostgreSQL run (make test-postgres) `make run` puts Directus on PostgreSQL too.
	var dbEnv []string
	if os.Getenv(dtest.EnvDB) == dtest.Postgres {
		err := exec.Command(filepath.Join(root, "dev", "postgres.sh"), "status").Run()
		testdeps.Require(t, err == nil, "PostgreSQL is not running: run `make test-postgres`")
		dbEnv = []string{"DIRECTUS_DB=postgres"}
	}
	stops := []struct {
		name string
		stop func(pid int) error
	}{
		{"Ctrl-C", func(pid int) error { return syscall.Kill(-pid, syscall.SIGINT) }},
		{"TERM to the script alone", func(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }},
	}
	for _, st := range stops {
		t.Run(st.name, func(t *testing.T) {
			ircPort := freePort(t)
			state := t.TempDir()
			cmd := exec.Command("bash", "dev/run.sh")
			cmd.Dir = root
			stateEnv := append([]string{"DIRECTUS_STATE_DIR=" + filepath.Join(state, "directus"),
				"DIRECTUS_PG_DATABASE=dtest_make_run_" + strconv.Itoa(os.Getpid())}, dbEnv...)
			cmd.Env = append(append(os.Environ(), "IRC_PORT="+ircPort, "DIRECTUS_PORT="+freePort(t), "WEBCHAT_PORT="+freePort(t),
				"RUN_DIR="+filepath.Join(state, "run"), "DIRECTUS_IRCD_LOG_FORMAT=json"), stateEnv...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			cmd.Stdout = os.Stdout
			w := startWatched(t, cmd, func(line string) { t.Log(line) })
			t.Cleanup(func() {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				reset := exec.Command("dev/directus.sh", "reset") // drops the PostgreSQL database
				reset.Dir, reset.Env = root, append(os.Environ(), stateEnv...)
				if out, err := reset.CombinedOutput(); err != nil {
					t.Errorf("dev/directus.sh reset: %v: %s", err, out)
				}
			})
			w.waitLine(t, "listening for IRC clients", 4*time.Minute)
			assertStampedAsMakeBuild(t, root, w.waitLine(t, "directus-ircd started", time.Minute))
			alice := irctest.Dial(t, "127.0.0.1:"+ircPort)
			if nick := alice.RegisterSASL("alice", "alice@example.com", "alicepass"); nick != "Alice" {
				t.Fatalf("nick = %q", nick)
			}
			alice.Join("#chat")
			bob := irctest.Dial(t, "127.0.0.1:"+ircPort)
			bob.RegisterPass("bob", "bob:bobpass")
			bob.Join("#chat")
			alice.Send("PRIVMSG", "#chat", "hello from make run")
			m := bob.Expect("PRIVMSG")
			if m.Nick() != "Alice" || m.Params[1] != "hello from make run" {
				t.Fatalf("bob got %v", m)
			}

			if err := st.stop(cmd.Process.Pid); err != nil {
				t.Fatal(err)
			}
			w.waitExit(t, "make run after "+st.name, 60*time.Second)
			if _, err := os.Stat(filepath.Join(state, "directus", "run", "pid")); err == nil {
				t.Fatalf("Directus still recorded as running after %s", st.name)
			}
			if text := alice.Closed(); text != "server shutting down" {
				t.Errorf("the daemon's last word to alice = %q, want the shutdown ERROR", text)
			}
			if conn, err := net.Dial("tcp", "127.0.0.1:"+ircPort); err == nil {
				conn.Close()
				t.Fatalf("the IRC port still accepts connections after %s", st.name)
			}
		})
	}
}

// assertStampedAsMakeBuild checks the daemon's start log line: the daemon was built as `make
// build` builds it, stamped with the checkout's commit (and "+dirty" for a modified tree).
func assertStampedAsMakeBuild(t *testing.T, root, line string) {
	t.Helper()
	var started struct{ Version, Commit string }
	if err := json.Unmarshal([]byte(line), &started); err != nil {
		t.Fatalf("start log line %q: %v", line, err)
	}
	rev := exec.Command("git", "rev-parse", "HEAD")
	rev.Dir = root
	head, err := rev.Output()
	if err != nil {
		t.Logf("not a git checkout (%v): the version stamp is not checked", err)
		return
	}
	if strings.TrimSuffix(started.Commit, "+dirty") != strings.TrimSpace(string(head)) || started.Version == "0.1.0-dev" {
		t.Errorf("make run's daemon is version %q, commit %q; want the stamp of make build, commit %s",
			started.Version, started.Commit, strings.TrimSpace(string(head)))
	}
}

func TestRunWithWrongTokenExits(t *testing.T) {
	dx := dtest.Start(t, dtest.Options{})
	var errOut bytes.Buffer
	code := run([]string{"run"}, []string{
		"DIRECTUS_IRCD_DIRECTUS_URL=" + dx.URL, "DIRECTUS_IRCD_DIRECTUS_TOKEN=not-a-valid-token",
		"DIRECTUS_IRCD_SERVER_LISTEN=127.0.0.1:0", "DIRECTUS_IRCD_LOG_FORMAT=json",
	}, &bytes.Buffer{}, &errOut)
	if code != 78 || !strings.Contains(errOut.String(), "directus.token is not accepted") {
		t.Fatalf("exit %d, log:\n%s", code, errOut.String())
	}
	if strings.Contains(errOut.String(), "not-a-valid-token") {
		t.Fatal("the token appears in the log")
	}
}
