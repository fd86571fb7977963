// Package irctest is a small IRC client for tests: it sends lines built with ircmsg and
// waits for replies by command, with PING/PONG round trips as the synchronisation point.
package irctest

import (
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircreader"
)

// Timeout bounds every wait.
var Timeout = 20 * time.Second

// Client is one test connection.
type Client struct {
	t    testing.TB
	conn net.Conn
	Nick string

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []ircmsg.Message
	closed bool
	err    error
	seq    int
}

// Dial connects to addr; the connection is closed at the end of the test.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("irctest: dial %s: %v", addr, err)
	}
	return New(t, conn)
}

// DialFrom connects to addr from the local address local (a loopback address such as
// 127.0.0.7, to act as another client address).
func DialFrom(t testing.TB, local, addr string) *Client {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("irctest: dial %s from %s: %v", addr, local, err)
	}
	return New(t, conn)
}

// New speaks IRC over an established connection (a TLS one, say); it is closed at the end of
// the test.
func New(t testing.TB, conn net.Conn) *Client {
	c := &Client{t: t, conn: conn}
	c.cond = sync.NewCond(&c.mu)
	go c.read()
	t.Cleanup(func() { _ = conn.Close() })
	return c
}

func (c *Client) read() {
	r := ircreader.NewIRCReader(c.conn)
	for {
		line, err := r.ReadLine()
		if err != nil {
			c.mu.Lock()
			c.closed, c.err = true, err
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
		msg, perr := ircmsg.ParseLine(string(line))
		c.mu.Lock()
		if perr == nil {
			if msg.Command == "PING" {
				c.writeLocked(ircmsg.MakeMessage(nil, "", "PONG", msg.Params...))
			}
			c.queue = append(c.queue, msg)
		}
		c.cond.Broadcast()
		c.mu.Unlock()
	}
}

func (c *Client) writeLocked(m ircmsg.Message) {
	line, err := m.LineBytesStrict(true, 0)
	if err != nil {
		c.t.Errorf("irctest: build %s: %v", m.Command, err)
		return
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(Timeout))
	if _, err := c.conn.Write(line); err != nil {
		c.err = err
	}
}

// Send writes one command.
func (c *Client) Send(command string, params ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeLocked(ircmsg.MakeMessage(nil, "", command, params...))
}

// SendRaw writes bytes as they are (for bad-input tests).
func (c *Client) SendRaw(s string) {
	_ = c.conn.SetWriteDeadline(time.Now().Add(Timeout))
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatalf("irctest: write: %v", err)
	}
}

// ExpectFunc waits for the first message that match accepts, dropping those before it.
func (c *Client) ExpectFunc(what string, match func(ircmsg.Message) bool) ircmsg.Message {
	c.t.Helper()
	deadline := time.Now().Add(Timeout)
	timer := time.AfterFunc(Timeout, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	var skipped []string
	for {
		for len(c.queue) > 0 {
			m := c.queue[0]
			c.queue = c.queue[1:]
			if match(m) {
				return m
			}
			if len(skipped) < 30 {
				l, _ := m.Line()
				skipped = append(skipped, strings.TrimSpace(l))
			}
		}
		if c.closed || time.Now().After(deadline) {
			c.t.Fatalf("irctest %s: waiting for %s: closed=%v err=%v; skipped:\n  %s", c.Nick, what, c.closed, c.err, strings.Join(skipped, "\n  "))
		}
		c.cond.Wait()
	}
}

// Expect waits for a message with this command (or numeric).
func (c *Client) Expect(command string) ircmsg.Message {
	c.t.Helper()
	return c.ExpectFunc(command, func(m ircmsg.Message) bool { return m.Command == command })
}

// Sync sends a PING and returns everything received before its PONG: the server handles a
// client's commands in order, so all effects of earlier commands are in the result.
func (c *Client) Sync() []ircmsg.Message {
	c.t.Helper()
	c.mu.Lock()
	c.seq++
	token := fmt.Sprintf("sync-%d", c.seq)
	c.mu.Unlock()
	c.Send("PING", token)
	var got []ircmsg.Message
	c.ExpectFunc("PONG "+token, func(m ircmsg.Message) bool {
		if m.Command == "PONG" && len(m.Params) > 0 && m.Params[len(m.Params)-1] == token {
			return true
		}
		got = append(got, m)
		return false
	})
	return got
}

// Closed waits until the server closes the connection and returns the ERROR text, if any.
func (c *Client) Closed() string {
	c.t.Helper()
	var text string
	deadline := time.Now().Add(Timeout)
	timer := time.AfterFunc(Timeout, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for _, m := range c.queue {
			if m.Command == "ERROR" && len(m.Params) > 0 {
				text = m.Params[0]
			}
		}
		c.queue = nil
		if c.closed {
			return text
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("irctest %s: connection not closed", c.Nick)
		}
		c.cond.Wait()
	}
}

// Close ends the connection.
func (c *Client) Close() { _ = c.conn.Close() }

// RegisterSASL registers with SASL PLAIN and returns the nick from 001 (the server may
// force one). It fails the test on 904.
func (c *Client) RegisterSASL(nick, login, password string) string {
	c.t.Helper()
	c.Send("CAP", "LS", "302")
	c.Send("NICK", nick)
	c.Send("USER", "u", "0", "*", "Test User")
	c.Send("CAP", "REQ", "sasl server-time message-tags")
	c.Expect("CAP")
	c.ExpectFunc("CAP ACK", func(m ircmsg.Message) bool { return m.Command == "CAP" && len(m.Params) > 1 && m.Params[1] == "ACK" })
	c.Send("AUTHENTICATE", "PLAIN")
	c.Expect("AUTHENTICATE")
	// Responses longer than 400 bytes go in 400-byte chunks, ending with "+" if needed.
	resp := SASLPlain(login, password)
	for len(resp) >= 400 {
		c.Send("AUTHENTICATE", resp[:400])
		resp = resp[400:]
	}
	if resp == "" {
		resp = "+"
	}
	c.Send("AUTHENTICATE", resp)
	res := c.ExpectFunc("903 or 904", func(m ircmsg.Message) bool { return m.Command == "903" || m.Command == "904" })
	if res.Command == "904" {
		c.t.Fatalf("irctest: SASL login %s failed: %v", login, res.Params)
	}
	c.Send("CAP", "END")
	return c.welcome()
}

// RegisterPass registers with PASS (and no CAP) and returns the nick from 001.
func (c *Client) RegisterPass(nick, pass string) string {
	c.t.Helper()
	if pass != "" {
		c.Send("PASS", pass)
	}
	c.Send("NICK", nick)
	c.Send("USER", "u", "0", "*", "Test User")
	return c.welcome()
}

func (c *Client) welcome() string {
	c.t.Helper()
	m := c.ExpectFunc("001", func(m ircmsg.Message) bool {
		if m.Command == "464" || m.Command == "ERROR" || m.Command == "433" {
			c.t.Fatalf("irctest: registration failed: %s %v", m.Command, m.Params)
		}
		return m.Command == "001"
	})
	c.Nick = m.Params[0]
	c.ExpectFunc("end of MOTD", func(m ircmsg.Message) bool { return m.Command == "376" || m.Command == "422" })
	return c.Nick
}

// Join joins channel and returns the history replayed before NAMES ended (366).
func (c *Client) Join(channel string) []ircmsg.Message {
	c.t.Helper()
	c.Send("JOIN", channel)
	var got []ircmsg.Message
	c.ExpectFunc("366", func(m ircmsg.Message) bool {
		if m.Command == "474" || m.Command == "473" || m.Command == "403" {
			c.t.Fatalf("irctest: join refused: %s %v", m.Command, m.Params)
		}
		if m.Command == "366" {
			return true
		}
		got = append(got, m)
		return false
	})
	// History may follow NAMES; a round trip collects it.
	got = append(got, c.Sync()...)
	var hist []ircmsg.Message
	for _, m := range got {
		if m.Command == "PRIVMSG" || m.Command == "NOTICE" {
			hist = append(hist, m)
		}
	}
	return hist
}

// Privmsgs filters PRIVMSGs to target.
func Privmsgs(msgs []ircmsg.Message, target string) []ircmsg.Message {
	var out []ircmsg.Message
	for _, m := range msgs {
		if m.Command == "PRIVMSG" && len(m.Params) > 1 && strings.EqualFold(m.Params[0], target) {
			out = append(out, m)
		}
	}
	return out
}

// SASLPlain encodes a PLAIN response.
func SASLPlain(login, password string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + login + "\x00" + password))
}

// Next returns the next message, or false when the connection is closed or stop is closed.
// Unlike Expect it never fails the test, so it may run in a background goroutine.
func (c *Client) Next(stop <-chan struct{}) (ircmsg.Message, bool) {
	go func() {
		<-stop
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if len(c.queue) > 0 {
			m := c.queue[0]
			c.queue = c.queue[1:]
			return m, true
		}
		select {
		case <-stop:
			return ircmsg.Message{}, false
		default:
		}
		if c.closed {
			return ircmsg.Message{}, false
		}
		c.cond.Wait()
	}
}

// RegisterRefused registers with PASS (none when pass is "") and no CAP, expects the refusal
// (464) and returns its text and the ERROR text the server closed with.
func (c *Client) RegisterRefused(nick, pass string) (refusal, closing string) {
	c.t.Helper()
	if pass != "" {
		c.Send("PASS", pass)
	}
	c.Send("NICK", nick)
	c.Send("USER", "u", "0", "*", "Test User")
	m := c.Expect("464")
	return m.Params[len(m.Params)-1], c.Closed()
}

// TrySASL connects from the local address from, tries one SASL PLAIN login without
// registering, and closes the connection. It returns whether the server accepted the login
// (903) and the text of its 903 or 904.
func TrySASL(t testing.TB, from, addr, login, password string) (ok bool, reply string) {
	t.Helper()
	c := DialFrom(t, from, addr)
	defer c.Close()
	c.Send("CAP", "REQ", "sasl")
	c.Send("AUTHENTICATE", "PLAIN")
	c.Expect("AUTHENTICATE")
	c.Send("AUTHENTICATE", SASLPlain(login, password))
	m := c.ExpectFunc("903 or 904", func(m ircmsg.Message) bool { return m.Command == "903" || m.Command == "904" })
	return m.Command == "903", m.Params[len(m.Params)-1]
}

// SprayPasswords is a password-guessing script against one account: parallel attempts at
// once, then sequential ones, each from the next of the addresses in from and each with a
// different wrong password (identical guesses in flight together could share one answer).
// It returns the servers' replies, 904s unless a guess was accepted.
func SprayPasswords(t testing.TB, addr string, from []string, login string, parallel, sequential int) []string {
	t.Helper()
	replies := make([]string, parallel+sequential)
	guess := func(i int) {
		_, replies[i] = TrySASL(t, from[i%len(from)], addr, login, fmt.Sprintf("guess-%d", i))
	}
	var wg sync.WaitGroup
	for i := range parallel {
		wg.Go(func() { guess(i) })
	}
	wg.Wait()
	for i := parallel; i < parallel+sequential; i++ {
		guess(i)
	}
	return replies
}
