package main

import (
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
	"github.com/directus-ircd/directus-ircd/internal/metrics"
)

// The built daemon as an admin runs it: readiness and Prometheus metrics on the health
// endpoint, SIGHUP reloads the topic (clients see TOPIC), SIGTERM tells clients and exits 0.
func TestDaemonReloadsOnSIGHUPAndStopsOnSIGTERM(t *testing.T) {
	dx, res := dtest.StartProvisioned(t, dtest.Options{})
	dir := t.TempDir()
	bin := buildDaemon(t, dir)
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
	w := startWatched(t, cmd, func(line string) {
		if strings.Contains(line, res.BridgeToken) {
			t.Errorf("a log line shows the token: %s", line)
		}
	})
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	w.waitLine(t, "listening for IRC clients", 60*time.Second)
	waitReady(t, "http://"+healthAddr+"/readyz")

	scrape := func() metrics.Values { return scrapeMetrics(t, healthAddr) }
	before := scrape()
	build := false
	for k := range before {
		build = build || strings.HasPrefix(k, "directus_ircd_build_info{commit=")
	}
	if !build || before["directus_ircd_directus_up"] != 1 || !before.Has("go_goroutines") || !before.Has("process_resident_memory_bytes") {
		t.Errorf("/metrics of a ready daemon lacks build info, directus_up 1 or the Go and process metrics")
	}

	alice := irctest.Dial(t, ircAddr)
	alice.RegisterSASL("a", "alice", "alicepass")
	if v := scrape(); v[`directus_ircd_registrations_total{kind="account"}`] != 1 || v[`directus_ircd_clients{transport="plain"}`] != 1 {
		t.Errorf("after one login: registrations %v, plain clients %v; want 1 and 1",
			v[`directus_ircd_registrations_total{kind="account"}`], v[`directus_ircd_clients{transport="plain"}`])
	}
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
	w.waitLine(t, "configuration reloaded", 60*time.Second)

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
	w.waitExit(t, "after SIGTERM", 30*time.Second)
}

// scrapeMetrics reads the daemon's /metrics on its health endpoint.
func scrapeMetrics(t *testing.T, healthAddr string) metrics.Values {
	t.Helper()
	resp, err := http.Get("http://" + healthAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	v, err := metrics.Parse(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s, %v", resp.Status, err)
	}
	return v
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
