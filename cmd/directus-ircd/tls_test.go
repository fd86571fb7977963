package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
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
	"github.com/directus-ircd/directus-ircd/internal/testcert"
)

// An admin serves IRC over TLS only (port 6697 style) and renews the certificate with SIGHUP:
// clients that verify the certificate log in and talk; after the reload new connections get
// the new certificate while the existing one stays connected; a plain-text client on the TLS
// port is refused without disturbing anyone.
func TestDaemonServesTLSAndReloadsTheCertificate(t *testing.T) {
	dx, res := dtest.StartProvisioned(t, dtest.Options{})
	dir := t.TempDir()
	bin := buildDaemon(t, dir)
	first := testcert.Write(t, dir, "first")
	second := testcert.Write(t, dir, "second")
	certPath, keyPath := filepath.Join(dir, "irc.crt"), filepath.Join(dir, "irc.key")
	install := func(p testcert.Pair) {
		for src, dst := range map[string]string{p.CertFile: certPath, p.KeyFile: keyPath} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(first)
	tlsAddr := "127.0.0.1:" + freePort(t)
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf("server:\n  listen: []\n  tls_listen: [%q]\n  tls_cert: %s\n  tls_key: %s\ndirectus:\n  url: %s\n  token: %s\nlog:\n  format: json\n",
		tlsAddr, certPath, keyPath, dx.URL, res.BridgeToken)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "-config", cfgPath)
	w := startWatched(t, cmd, func(line string) {
		if strings.Contains(line, "PRIVATE KEY") || strings.Contains(line, res.BridgeToken) {
			t.Errorf("a log line shows a secret: %s", line)
		}
	})
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	w.waitLine(t, `"tls":true`, 60*time.Second)

	// dialTLS connects and verifies the server's certificate against the one expected.
	dialTLS := func(want testcert.Pair) *irctest.Client {
		t.Helper()
		conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: want.Pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatalf("TLS dial: %v", err)
		}
		if got := conn.ConnectionState().PeerCertificates[0]; !bytes.Equal(got.Raw, want.Cert.Raw) {
			t.Fatalf("server presented %q, want %q", got.Subject.CommonName, want.Cert.Subject.CommonName)
		}
		return irctest.New(t, conn)
	}
	alice := dialTLS(first)
	alice.RegisterSASL("a", "alice", "alicepass")
	alice.Join("#chat")

	// Plain text on the TLS port: the handshake fails and that connection alone is closed.
	plain := irctest.Dial(t, tlsAddr)
	plain.SendRaw("NICK plain\r\nUSER plain 0 * :plain\r\n")
	plain.Closed()

	install(second)
	_ = cmd.Process.Signal(syscall.SIGHUP)
	w.waitLine(t, "tls certificate", 30*time.Second)
	bob := dialTLS(second)
	bob.RegisterSASL("b", "bob", "bobpass")
	bob.Join("#chat")
	alice.Send("PRIVMSG", "#chat", "over TLS, still on the first certificate")
	m := bob.ExpectFunc("alice's line", func(m ircmsg.Message) bool { return m.Command == "PRIVMSG" })
	if m.Nick() != "Alice" || m.Params[len(m.Params)-1] != "over TLS, still on the first certificate" {
		t.Fatalf("bob got %v", m)
	}

	_ = cmd.Process.Signal(syscall.SIGTERM)
	w.waitExit(t, "after SIGTERM", 30*time.Second)
}
