package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/directus-ircd/directus-ircd/internal/dtest"
	"github.com/directus-ircd/directus-ircd/internal/irctest"
	"github.com/directus-ircd/directus-ircd/internal/testcert"
	"github.com/directus-ircd/directus-ircd/internal/testdeps"
	"github.com/directus-ircd/directus-ircd/internal/wsirc"
)

// What the README promises for IRC over WebSocket, on the built daemon: a browser page (Debian's
// chromium, driven by playwright-core: testdata/websocket.mjs) logs in as alice over
// text.ircv3.net, joins, sends a line that Directus stores as alice and receives bob's line
// created over REST; a page from another origin is refused. Then a Go client over wss:// with
// binary.ircv3.net sees alice's line in the history, and behind a trusted proxy the forwarded
// address is what max_clients_per_ip counts. SIGHUP renews the wss:// certificate.
func TestDaemonServesBrowsersOverWebSocket(t *testing.T) {
	if testing.Short() {
		t.Skip("browser end-to-end test: not in -short mode")
	}
	node := testdeps.Program(t, "node", "install Node.js")
	chromium := "/usr/bin/chromium"
	if c := os.Getenv("WEBCHAT_CHROMIUM"); c != "" {
		chromium = c
	}
	_, err := os.Stat(chromium)
	testdeps.Require(t, err == nil, chromium+" is missing (Debian package chromium; `bash dev/test-deps.sh` installs it)")
	playwright, err := filepath.Abs(filepath.Join("..", "..", "examples", "webchat", "test", "node_modules", "playwright-core", "index.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat(playwright)
	testdeps.Require(t, err == nil, "playwright-core is not installed in examples/webchat/test (`bash dev/test-deps.sh` runs npm install there)")

	dir := t.TempDir()
	bin := buildDaemon(t, dir)
	dx, res := dtest.StartProvisioned(t, dtest.Options{})
	pair := testcert.Write(t, dir, "wss")
	page := func() *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, "<!doctype html><title>IRC over WebSocket</title>")
		}))
		t.Cleanup(s.Close)
		return s
	}
	allowed, refused := page(), page()

	wsAddr, wssAddr, healthAddr := "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf(`server:
  listen: []
  websocket_listen: [%q]
  websocket_tls_listen: [%q]
  tls_cert: %s
  tls_key: %s
  websocket_origins: [%q]
  trusted_proxies: [127.0.0.1]
  max_clients_per_ip: 2
directus:
  url: %s
  token: %s
health:
  listen: %q
log:
  format: json
`, wsAddr, wssAddr, pair.CertFile, pair.KeyFile, allowed.URL, dx.URL, res.BridgeToken, healthAddr)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "-config", cfgPath)
	w := startWatched(t, cmd, nil)
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitReady(t, "http://"+healthAddr+"/readyz")

	// The browser.
	token := make([]byte, 4)
	_, _ = rand.Read(token)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	script, err := filepath.Abs(filepath.Join("testdata", "websocket.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	browser := exec.CommandContext(ctx, node, script)
	browser.Env = append(os.Environ(),
		"PLAYWRIGHT_CORE="+playwright, "CHROMIUM="+chromium,
		"PAGE_URL="+allowed.URL+"/", "REFUSED_PAGE_URL="+refused.URL+"/", "WS_URL=ws://"+wsAddr+"/",
		"DIRECTUS_URL="+dx.URL, "DIRECTUS_ADMIN_EMAIL="+dx.AdminEmail, "DIRECTUS_ADMIN_PASSWORD="+dx.AdminPassword,
		"TOKEN="+hex.EncodeToString(token),
	)
	browser.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // node and chromium end together
	browser.Cancel = func() error { return syscall.Kill(-browser.Process.Pid, syscall.SIGKILL) }
	browser.WaitDelay = 5 * time.Second
	out, err := browser.CombinedOutput()
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		t.Log("websocket.mjs: " + line)
	}
	if err != nil {
		t.Fatalf("websocket.mjs: %v", err)
	}
	w.waitLine(t, `"origin":"`+refused.URL+`"`, 10*time.Second) // "websocket origin refused"

	// wss:// with binary frames: alice's browser line is in the history.
	dialer := websocket.Dialer{Subprotocols: []string{wsirc.BinaryProtocol}, TLSClientConfig: &tls.Config{RootCAs: pair.Pool}}
	ws, _, err := dialer.Dial("wss://"+wssAddr+"/", nil)
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	if ws.Subprotocol() != wsirc.BinaryProtocol {
		t.Fatalf("subprotocol %q", ws.Subprotocol())
	}
	carol := irctest.New(t, wsirc.NewConn(ws, nil, 0))
	carol.RegisterPass("c", "carol:carolpass")
	want := "hello from a browser " + hex.EncodeToString(token)
	found := false
	for _, m := range carol.Join("#chat") { // without server-time, replayed lines start with [hh:mm]
		found = found || m.Command == "PRIVMSG" && m.Nick() == "Alice" && strings.HasSuffix(m.Params[len(m.Params)-1], "] "+want)
	}
	if !found {
		t.Errorf("carol's history over wss has no %q from Alice", want)
	}

	// Behind a trusted proxy (loopback here), max_clients_per_ip (2) counts the forwarded address.
	viaProxy := func(from string) *irctest.Client {
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+wsAddr+"/", http.Header{"X-Forwarded-For": {from}})
		if err != nil {
			t.Fatalf("dial as %s: %v", from, err)
		}
		return irctest.New(t, wsirc.NewConn(ws, nil, 0))
	}
	viaProxy("198.51.100.7").RegisterPass("b", "bob:bobpass")
	viaProxy("198.51.100.7").RegisterPass("b", "bob:bobpass")
	if reason := viaProxy("198.51.100.7").Closed(); !strings.Contains(reason, "from your address") {
		t.Errorf("third connection forwarded for 198.51.100.7: ERROR %q", reason)
	}
	viaProxy("198.51.100.8").RegisterPass("b", "bob:bobpass")

	// A renewed certificate is presented to new wss:// clients after SIGHUP.
	renewed := testcert.Write(t, dir, "wss") // overwrites the files the config names
	_ = cmd.Process.Signal(syscall.SIGHUP)
	w.waitLine(t, "tls certificate", 30*time.Second)
	dialer.TLSClientConfig = &tls.Config{RootCAs: renewed.Pool}
	ws, _, err = dialer.Dial("wss://"+wssAddr+"/", nil)
	if err != nil {
		t.Fatalf("wss dial after the renewal: %v", err)
	}
	_ = ws.Close()

	_ = cmd.Process.Signal(syscall.SIGTERM)
	if reason := carol.Closed(); !strings.Contains(reason, "shutting down") {
		t.Errorf("ERROR on SIGTERM over wss = %q", reason)
	}
	w.waitExit(t, "after SIGTERM", 30*time.Second)
}
