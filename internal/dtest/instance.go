// Package dtest runs real Directus instances for tests, from the install and
// template database that dev/directus.sh prepares (.directus/install and
// .directus/template.db at the repository root, or DIRECTUS_IRCD_INSTALL and
// DIRECTUS_IRCD_TEMPLATE_DB). Without them tests skip, or fail when CI=true.
//
// With DTEST_DB=postgres every instance runs on PostgreSQL instead: the
// checkout's cluster that dev/postgres.sh starts (`make test-postgres`), whose
// connection settings it reads from .directus/pg/directus.env (or the file
// named by DTEST_PG_ENV). The same tests then run on either database.
//
// Each instance gets its own copy of the template (admin admin@example.com /
// adminpass) — a data.db file, or a PostgreSQL database cloned from
// directus_template and dropped at cleanup — a free loopback port and a
// temporary directory holding .env and directus.log; it is stopped (only the
// pid it started) when the test ends, and the log's tail is printed when the
// test failed. Starting takes about 3–10 s on a quiet 2-core machine, so share
// an instance between subtests and keep instances that run at once few.
package dtest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	startTimeout = 60 * time.Second
	stopTimeout  = 15 * time.Second
	// secret signs the instance's JWTs; a fixed value keeps tokens valid across Restart.
	secret = "directus-ircd-dtest-secret-0123456789abcdef"
)

// Options configures an instance.
type Options struct {
	// Env is extra Directus configuration written to the instance's .env,
	// e.g. {"ACCESS_TOKEN_TTL": "15s"}. It overrides the defaults.
	Env map[string]string
}

// Instance is a running Directus with its own data directory and port.
type Instance struct {
	URL           string // http://127.0.0.1:PORT
	Port          int
	AdminEmail    string
	AdminPassword string
	Dir           string // data directory: .env, directus.log, data.db on SQLite
	LogPath       string
	DB            string // SQLite or Postgres (DTEST_DB)

	paths paths
	store store
	env   map[string]string

	mu       sync.Mutex
	proc     *process
	token    string
	tokenExp time.Time
}

type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// Start runs a fresh Directus (a copy of the template database) on a free
// loopback port and waits until GET /server/ping answers. It is stopped, and
// its database removed, when the test ends. Without an install it skips the
// test (fails under CI=true).
func Start(t testing.TB, opt Options) *Instance {
	t.Helper()
	p := locate(t)
	dir := t.TempDir()
	i := &Instance{AdminEmail: AdminEmail, AdminPassword: AdminPassword, Dir: dir,
		LogPath: filepath.Join(dir, "directus.log"), DB: p.db, paths: p, store: p.newStore(), env: opt.Env}
	if err := i.store.create(dir); err != nil {
		t.Fatalf("dtest: create the %s database: %v", p.db, err)
	}
	t.Cleanup(func() {
		if err := i.store.remove(); err != nil {
			t.Errorf("dtest: remove the %s database: %v", p.db, err)
		}
	})
	// A package.json keeps Directus from warning about package extensions.
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"dtest-directus","private":true}`), 0o644); err != nil {
		t.Fatalf("dtest: %v", err)
	}
	for _, sub := range []string{"extensions", "uploads"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatalf("dtest: %v", err)
		}
	}
	t.Cleanup(func() { i.cleanup(t) })
	var err error
	for range 3 { // a free port can be taken by someone else before Directus binds it
		if err = i.launchOn(freePort(t)); err == nil || !strings.Contains(i.LogTail(20), "EADDRINUSE") {
			break
		}
	}
	if err != nil {
		t.Fatalf("dtest: start Directus: %v\n--- %s (tail) ---\n%s", err, i.LogPath, i.LogTail(40))
	}
	return i
}

// Kill sends SIGKILL (fault injection) and waits until the process is gone.
func (i *Instance) Kill(t testing.TB) {
	t.Helper()
	if err := i.signal(syscall.SIGKILL, stopTimeout); err != nil {
		t.Fatalf("dtest: kill: %v", err)
	}
}

// Stop sends SIGTERM and waits (SIGKILL after a bound).
func (i *Instance) Stop(t testing.TB) {
	t.Helper()
	if err := i.stop(); err != nil {
		t.Fatalf("dtest: stop: %v", err)
	}
}

// Pause stops the process with SIGSTOP: the sockets stay open but nothing is
// answered (a hung server). Resume continues it.
func (i *Instance) Pause(t testing.TB) {
	t.Helper()
	if err := i.signal(syscall.SIGSTOP, 0); err != nil {
		t.Fatalf("dtest: pause: %v", err)
	}
}

// Resume continues a paused process (SIGCONT).
func (i *Instance) Resume(t testing.TB) {
	t.Helper()
	if err := i.signal(syscall.SIGCONT, 0); err != nil {
		t.Fatalf("dtest: resume: %v", err)
	}
}

// Restart starts Directus again on the same port and data (stopping it first
// if it still runs) and waits for /server/ping.
func (i *Instance) Restart(t testing.TB) {
	t.Helper()
	if err := i.stop(); err != nil {
		t.Fatalf("dtest: restart: %v", err)
	}
	var err error
	for range 10 { // the old process's port may linger for a moment
		if err = i.launchOn(i.Port); err == nil || !strings.Contains(i.LogTail(20), "EADDRINUSE") {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("dtest: restart Directus: %v\n--- %s (tail) ---\n%s", err, i.LogPath, i.LogTail(40))
	}
}

// Running reports whether the Directus process is alive.
func (i *Instance) Running() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.proc != nil && !i.proc.done()
}

// LogTail returns the last n lines of the Directus log.
func (i *Instance) LogTail(n int) string {
	b, err := os.ReadFile(i.LogPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func (i *Instance) cleanup(t testing.TB) {
	if err := i.stop(); err != nil {
		t.Errorf("dtest: stop at cleanup: %v", err)
	}
	if t.Failed() {
		t.Logf("--- %s (tail) ---\n%s", i.LogPath, i.LogTail(30))
	}
}

func (i *Instance) launchOn(port int) error {
	i.Port = port
	i.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	if err := i.writeEnv(); err != nil {
		return err
	}
	log, err := os.OpenFile(i.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	fmt.Fprintf(log, "--- dtest: starting on port %d at %s ---\n", port, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(i.paths.node(), i.paths.runJS(), "start")
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = i.Dir, i.processEnv(), log, log
	wait, err := startChild(cmd)
	if err != nil {
		return err
	}
	proc := &process{cmd: cmd, exited: make(chan struct{})}
	go func() { proc.err = wait(); close(proc.exited) }()
	i.mu.Lock()
	i.proc = proc
	i.mu.Unlock()
	if err := waitReady(i.URL, proc, startTimeout); err != nil {
		_ = i.signal(syscall.SIGKILL, stopTimeout)
		return err
	}
	return nil
}

func waitReady(url string, proc *process, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if pingOK(client, url) {
			return nil
		}
		select {
		case <-proc.exited:
			return fmt.Errorf("Directus exited during start-up (%v)", proc.err)
		case <-time.After(150 * time.Millisecond):
		}
	}
	return fmt.Errorf("GET %s/server/ping did not answer 200 within %s", url, timeout)
}

func pingOK(client *http.Client, url string) bool {
	resp, err := client.Get(url + "/server/ping")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

func (i *Instance) stop() error {
	_ = i.signal(syscall.SIGCONT, 0) // a paused process cannot handle SIGTERM
	err := i.signal(syscall.SIGTERM, stopTimeout)
	if err != nil {
		return i.signal(syscall.SIGKILL, stopTimeout)
	}
	return nil
}

// signal sends sig to the started pid (only that one) and, if wait > 0,
// waits for it to exit.
func (i *Instance) signal(sig syscall.Signal, wait time.Duration) error {
	i.mu.Lock()
	proc := i.proc
	i.mu.Unlock()
	if proc == nil || proc.done() {
		return nil
	}
	if err := proc.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	if wait == 0 {
		return nil
	}
	select {
	case <-proc.exited:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("pid %d still running %s after %v", proc.cmd.Process.Pid, wait, sig)
	}
}

func (p *process) done() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// writeEnv writes the .env Directus reads from its working directory.
func (i *Instance) writeEnv() error {
	env := map[string]string{
		"HOST":               "127.0.0.1",
		"PORT":               strconv.Itoa(i.Port),
		"PUBLIC_URL":         i.URL,
		"SECRET":             secret,
		"WEBSOCKETS_ENABLED": "true",
		"TELEMETRY":          "false",
		"LOG_LEVEL":          "warn",
		// Without it Directus deep-copies its whole schema for every request and every
		// subscription event: half of its CPU per chat message (README, Performance).
		"CACHE_SCHEMA_FREEZE_ENABLED": "true",
		"CORS_ENABLED":                "true",
		"CORS_ORIGIN":                 "true",
		"EXTENSIONS_PATH":             filepath.Join(i.Dir, "extensions"),
		"STORAGE_LOCAL_ROOT":          filepath.Join(i.Dir, "uploads"),
		"ADMIN_EMAIL":                 i.AdminEmail,
		"ADMIN_PASSWORD":              i.AdminPassword,
		"RATE_LIMITER_ENABLED":        "false",
		// The pressure limiter answers 503 when the event loop lags, which a
		// loaded test machine (or Pause) triggers; Options.Env can enable it.
		"PRESSURE_LIMITER_ENABLED": "false",
	}
	for k, v := range i.store.env() {
		env[k] = v
	}
	for k, v := range i.env {
		env[k] = v
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, env[k])
	}
	return os.WriteFile(filepath.Join(i.Dir, ".env"), []byte(b.String()), 0o600)
}

// processEnv is a minimal environment: the node of the install first in PATH,
// and nothing that Directus would read as configuration.
func (i *Instance) processEnv() []string {
	env := []string{"PATH=" + filepath.Dir(i.paths.node()) + string(os.PathListSeparator) + os.Getenv("PATH")}
	for _, k := range []string{"HOME", "TMPDIR", "LANG", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dtest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
