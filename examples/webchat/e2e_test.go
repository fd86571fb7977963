package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/directus-ircd/directus-ircd/internal/dtest"
	"github.com/directus-ircd/directus-ircd/internal/testdeps"
)

// Directus settings of the end-to-end test: a heartbeat and a token lifetime short enough that
// the page has to answer pings and refresh its token within the test.
const (
	e2eHeartbeatSeconds = 5
	e2eTokenTTLSeconds  = 15
	e2eHistoryLimit     = 100
)

// TestWebchatEndToEnd runs the whole stack — a real Directus (internal/dtest), the daemon built
// from ./cmd/directus-ircd, and this page server — and drives the page in Debian's chromium with
// playwright-core (test/e2e.mjs) while an IRC client talks to the daemon. Screenshots go to
// test/artifacts/. Without chromium, node, playwright-core or Directus it skips, or fails under
// CI=true.
func TestWebchatEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("browser end-to-end test: not in -short mode")
	}
	chromium := envOr("WEBCHAT_CHROMIUM", "/usr/bin/chromium")
	node := testdeps.Program(t, "node", "install Node.js")
	_, err := os.Stat(chromium)
	testdeps.Require(t, err == nil, chromium+" is missing (Debian package chromium; `bash dev/test-deps.sh` installs it)")
	_, err = os.Stat(filepath.Join("test", "node_modules", "playwright-core", "package.json"))
	testdeps.Require(t, err == nil, "playwright-core is not installed in examples/webchat/test (`bash dev/test-deps.sh` runs npm install there)")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}

	// Build the daemon first: if it does not compile there is no point in starting Directus.
	bin := filepath.Join(t.TempDir(), "directus-ircd")
	build := exec.Command("go", "build", "-o", bin, "./cmd/directus-ircd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/directus-ircd: %v\n%s", err, out)
	}

	in, res := dtest.StartProvisioned(t, dtest.Options{Env: map[string]string{
		"WEBSOCKETS_HEARTBEAT_PERIOD": fmt.Sprint(e2eHeartbeatSeconds),
		"ACCESS_TOKEN_TTL":            fmt.Sprintf("%ds", e2eTokenTTLSeconds),
	}})

	ircAddr := startDaemon(t, bin, in.URL, res.BridgeToken)

	h, err := NewHandler(Config{DirectusURL: in.URL, HistoryLimit: e2eHistoryLimit})
	if err != nil {
		t.Fatal(err)
	}
	page := httptest.NewServer(h)
	t.Cleanup(page.Close)

	artifacts, err := filepath.Abs(filepath.Join("test", "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "e2e.mjs")
	cmd.Dir = "test"
	cmd.Env = append(os.Environ(),
		"WEBCHAT_URL="+page.URL+"/",
		"IRC_ADDR="+ircAddr,
		"DIRECTUS_URL="+in.URL,
		"DIRECTUS_ADMIN_EMAIL="+in.AdminEmail,
		"DIRECTUS_ADMIN_PASSWORD="+in.AdminPassword,
		fmt.Sprintf("HEARTBEAT_SECONDS=%d", e2eHeartbeatSeconds),
		fmt.Sprintf("TOKEN_TTL_SECONDS=%d", e2eTokenTTLSeconds),
		fmt.Sprintf("HISTORY_LIMIT=%d", e2eHistoryLimit),
		"ARTIFACTS_DIR="+artifacts,
		"CHROMIUM="+chromium,
		"E2E_GUEST=1",
	)
	// Node and chromium in their own process group, so that a timeout ends them all.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out := &lineLogger{t: t, prefix: "e2e.mjs: "}
	cmd.Stdout, cmd.Stderr = out, out
	t.Logf("artifacts (screenshots): %s", artifacts)
	if err := cmd.Run(); err != nil {
		out.Flush()
		t.Fatalf("e2e.mjs: %v (screenshots in %s)", err, artifacts)
	}
	out.Flush()
	t.Logf("screenshots: %s, %s", filepath.Join(artifacts, "webchat-live.png"), filepath.Join(artifacts, "webchat-final.png"))
}

// startDaemon runs the daemon on free loopback ports with guests allowed to post, waits until
// it is ready (its Directus subscription is up), and returns the IRC address.
func startDaemon(t *testing.T, bin, directusURL, token string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "directus-ircd.yaml")
	yaml := fmt.Sprintf(`server:
  listen:
    - 127.0.0.1:0
channel:
  name: '#chat'
directus:
  url: %s
  token: %s
login:
  guests: true
  guests_may_post: true
health:
  listen: 127.0.0.1:0
log:
  level: debug
  format: json
`, directusURL, token)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "directus-ircd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "-config", cfg)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	cmd.Stdout = logFile
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(logFile, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		pw.Close()
		logFile.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			t.Logf("--- %s (last 60 lines) ---\n%s", logPath, strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
	})

	// The daemon logs the addresses it bound ("listening for IRC clients", "health endpoint listening").
	addrs := make(chan [2]string, 1)
	go func() {
		var irc, health string
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var rec struct {
				Message string `json:"message"`
				Addr    string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				continue
			}
			switch rec.Message {
			case "listening for IRC clients":
				irc = rec.Addr
			case "health endpoint listening":
				health = rec.Addr
			}
			if irc != "" && health != "" {
				addrs <- [2]string{irc, health}
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	var a [2]string
	select {
	case a = <-addrs:
	case <-exited:
		t.Fatalf("directus-ircd exited during start-up; see %s", logPath)
	case <-time.After(30 * time.Second):
		t.Fatalf("directus-ircd did not log its listen addresses within 30 s; see %s", logPath)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("http://" + a[1] + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return a[0]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("directus-ircd not ready (GET /readyz) within 30 s: %v; see %s", err, logPath)
		}
		select {
		case <-exited:
			t.Fatalf("directus-ircd exited during start-up; see %s", logPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// requireDep skips the test when a dependency is missing, or fails it under CI=true.
func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// lineLogger sends a child's output to the test log, one line at a time.
type lineLogger struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			break
		}
		l.t.Log(l.prefix + string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

func (l *lineLogger) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.t.Log(l.prefix + string(l.buf))
		l.buf = nil
	}
}
