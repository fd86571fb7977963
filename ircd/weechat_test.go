package ircd

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/directus-ircd/directus-ircd/internal/testcert"
	"github.com/directus-ircd/directus-ircd/internal/testdeps"
)

// TestWeeChat runs Debian's weechat-headless against the server, over plain TCP and over TLS:
// it logs in with SASL PLAIN (its nick forced to Alice), joins, says a line that an ircevent
// client receives, and receives a line from that client. Debian's weechat-headless has no
// fifo plugin (that is in weechat-plugins), so WeeChat is driven by its server option
// "command", run after the welcome: "/join #chat;/msg #chat ..." — the server runs a
// client's commands in order, so no timing is involved. What WeeChat received is read from
// its logger plugin's channel log. With CI=true a missing weechat-headless fails the test
// (dev/test-deps.sh installs it).
func TestWeeChat(t *testing.T) {
	bin := testdeps.Program(t, "weechat-headless", "run dev/test-deps.sh")
	for _, tt := range []struct {
		name   string
		useTLS bool
	}{{"plain", false}, {"tls", true}} {
		t.Run(tt.name, func(t *testing.T) { weechatTalks(t, bin, tt.useTLS) })
	}
}

// weechatTalks has WeeChat log in (over TLS or not), join, say a line that an ircevent client
// on a plain port receives, and receive that client's answer.
func weechatTalks(t *testing.T, bin string, useTLS bool) {
	e := newTestEnv(t, nil)
	ln := listen(t, e)
	weechatLn := ln
	if useTLS {
		pair := testcert.Write(t, t.TempDir(), "weechat")
		cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		weechatLn = serveOn(t, e, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}

	// The other side: an ircevent client logged in as bob with PASS.
	events := make(chan ircmsg.Message, 16)
	joined := make(chan struct{}, 1)
	other := newIRCEvent(ln.Addr().String(), "b", "", "")
	other.Password = "bob:builder"
	other.AddConnectCallback(func(ircmsg.Message) { other.Join("#chat") })
	other.AddCallback("JOIN", func(m ircmsg.Message) {
		if m.Nick() == other.CurrentNick() {
			joined <- struct{}{}
		} else {
			events <- m
		}
	})
	other.AddCallback("PRIVMSG", func(m ircmsg.Message) { events <- m })
	if err := other.Connect(); err != nil {
		t.Fatalf("ircevent connect: %v", err)
	}
	go other.Loop()
	defer other.Quit()
	<-joined

	w := startWeeChat(t, bin, weechatLn.Addr().(*net.TCPAddr), useTLS, "alice", "wonderland",
		"/join #chat;/msg #chat hello from weechat")
	for _, want := range []string{"JOIN", "PRIVMSG"} {
		select {
		case m := <-events:
			if m.Command != want || m.Source != "Alice!alice@users.test" {
				t.Fatalf("ircevent got %s from %s %q, want %s from Alice", m.Command, m.Source, m.Params, want)
			}
			if want == "PRIVMSG" && lastParam(m) != "hello from weechat" {
				t.Errorf("ircevent got %q", m.Params)
			}
		case <-time.After(30 * time.Second):
			w.dump()
			t.Fatalf("no %s from WeeChat within 30 s", want)
		}
	}

	if err := other.Privmsg("#chat", "hello weechat, this is bob"); err != nil {
		t.Fatal(err)
	}
	w.waitLog("irc.test.#chat.weechatlog", "Bob\thello weechat, this is bob")
	w.waitLog("irc.server.test.weechatlog", "Welcome to the TestNet IRC network, Alice")
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

type weechat struct {
	t    *testing.T
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// startWeeChat starts weechat-headless in a new directory with a server "test" for addr that
// logs in with SASL PLAIN and runs command after the welcome.
func startWeeChat(t *testing.T, bin string, addr *net.TCPAddr, useTLS bool, login, password, command string) *weechat {
	t.Helper()
	dir := t.TempDir()
	setup := []string{
		"/set logger.file.flush_delay 0",
		"/set logger.file.auto_log on",
		"/server add test " + addr.IP.String() + "/" + strconv.Itoa(addr.Port),
		// WeeChat 3.8 calls them ssl and ssl_verify; 4.x tls and tls_verify. The certificate
		// is a throwaway one: the daemon's test checks verification with Go's client.
		"/set irc.server.test.ssl " + onOff(useTLS),
		"/set irc.server.test.tls " + onOff(useTLS),
		"/set irc.server.test.ssl_verify off",
		"/set irc.server.test.tls_verify off",
		"/set irc.server.test.nicks someone",
		"/set irc.server.test.sasl_mechanism plain",
		"/set irc.server.test.sasl_username " + login,
		"/set irc.server.test.sasl_password " + password,
		// -r splits at ';': the command's own separators are escaped.
		"/set irc.server.test.command \"" + strings.ReplaceAll(command, ";", "\\;") + "\"",
		"/connect test",
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--dir", dir, "--no-script", "-r", strings.Join(setup, ";"))
	cmd.Env = append(os.Environ(), "HOME="+dir, "LANG=C.UTF-8")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start weechat: %v", err)
	}
	w := &weechat{t: t, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(w.done)
	}()
	t.Cleanup(func() {
		select {
		case <-w.done:
		default:
			cancel() // kills this process only
			<-w.done
		}
		cancel()
		if t.Failed() {
			w.dump()
		}
	})
	return w
}

// waitLog waits until WeeChat's log file name contains text.
func (w *weechat) waitLog(name, text string) {
	w.t.Helper()
	w.poll("WeeChat's log to show "+text, func() bool {
		data, err := os.ReadFile(filepath.Join(w.dir, "logs", name))
		return err == nil && strings.Contains(string(data), text)
	})
}

// poll checks cond until it holds; WeeChat is another process, so there is nothing to wait on.
func (w *weechat) poll(what string, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			w.dump()
			w.t.Fatalf("timed out waiting for %s", what)
		}
		select {
		case <-w.done:
			w.dump()
			w.t.Fatalf("WeeChat exited while waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// dump logs WeeChat's own log and its IRC logs, to see what it did.
func (w *weechat) dump() {
	files, _ := filepath.Glob(filepath.Join(w.dir, "logs", "*.weechatlog"))
	for _, f := range append([]string{filepath.Join(w.dir, "weechat.log")}, files...) {
		if data, err := os.ReadFile(f); err == nil {
			w.t.Logf("--- %s\n%s", filepath.Base(f), data)
		}
	}
}
