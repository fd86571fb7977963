package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/directus-ircd/directus-ircd/internal/dtest"
	"github.com/directus-ircd/directus-ircd/internal/irctest"
)

// The built daemon as an admin runs it: readiness on the health endpoint, SIGHUP reloads the
// topic (clients see TOPIC), SIGTERM tells clients and exits 0.
func TestDaemonReloadsOnSIGHUPAndStopsOnSIGTERM(t *testing.T) {
	dx, res := dtest.StartProvisioned(t, dtest.Options{})
	dir := t.TempDir()
	bin := filepath.Join(dir, "directus-ircd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ircAddr, healthAddr := "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)
	cfgPath := filepath.Join(dir, "config.yaml")
	writeCfg := func(topic string) {
		cfg := fmt.Sprintf("server:\n  listen: [%q]\nchannel:\n  topic: %q\ndirectus:\n  url: %s\n  token: %s\nhealth:\n  listen: %q\nlog:\n  format: json\n",
			ircAddr, topic, dx.URL, res.BridgeToken, healthAddr)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg("first topic")
	cmd := exec.Command(bin, "run", "-config", cfgPath)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := make(chan string, 100)
	exited := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), res.BridgeToken) {
				t.Errorf("a log line shows the token: %s", sc.Text())
			}
			select {
			case lines <- sc.Text():
			default:
			}
		}
		exited <- cmd.Wait()
	}()
	waitLog(t, lines, "listening for IRC clients")
	waitReady(t, "http://"+healthAddr+"/readyz")

	alice := irctest.Dial(t, ircAddr)
	alice.RegisterSASL("a", "alice", "alicepass")
	alice.Send("JOIN", "#chat")
	if m := alice.Expect("332"); m.Params[len(m.Params)-1] != "first topic" {
		t.Fatalf("topic = %v", m.Params)
	}
	alice.Expect("366")

	writeCfg("second topic")
	_ = cmd.Process.Signal(syscall.SIGHUP)
	m := alice.ExpectFunc("TOPIC", func(m ircmsg.Message) bool { return m.Command == "TOPIC" })
	if m.Params[len(m.Params)-1] != "second topic" {
		t.Fatalf("TOPIC after SIGHUP = %v", m.Params)
	}
	waitLog(t, lines, "configuration reloaded")

	// Readiness follows the Directus connection; clients are told, and stay.
	dx.Kill(t)
	alice.ExpectFunc("outage notice", func(m ircmsg.Message) bool {
		return m.Command == "NOTICE" && strings.Contains(m.Params[len(m.Params)-1], "unreachable")
	})
	if resp, err := http.Get("http://" + healthAddr + "/readyz"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz during the outage: %v %v", resp, err)
	}
	dx.Restart(t)
	waitReady(t, "http://"+healthAddr+"/readyz")

	_ = cmd.Process.Signal(syscall.SIGTERM)
	if reason := alice.Closed(); !strings.Contains(reason, "shutting down") {
		t.Errorf("ERROR on SIGTERM = %q", reason)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not exit after SIGTERM")
	}
}

func waitLog(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l := <-lines:
			if strings.Contains(l, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no log line %q", want)
		}
	}
}

// waitReady polls the readiness endpoint: it reflects the Directus subscription.
func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became ready", url)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
