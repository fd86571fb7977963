package ircd

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircreader"
	"github.com/rs/zerolog"
)

// memBackend is an in-memory Backend: accounts with passwords and forced nicks, guests with a
// "|guest" suffix, and Post that stores and returns the stored message like the bridge does.
type memBackend struct {
	srv *Server

	mu           sync.Mutex
	passwords    map[string]string // account -> password
	requireLogin bool
	joinErr      error
	postErr      error
	posts        []Outgoing
	authCalls    []AuthRequest
	registered   []Registration
	disconnected []uint64
	nextID       int
	joinHook     func(c *Client) // runs inside Join (tests of what happens meanwhile)
	forceID      *Identity       // when set, Register returns it
	observed     []string        // nicks of completed registrations (RegistrationObserver)
}

func (b *memBackend) Registered(c *Client) {
	b.mu.Lock()
	b.observed = append(b.observed, c.Nick())
	b.mu.Unlock()
}

func newMemBackend() *memBackend {
	return &memBackend{passwords: map[string]string{"alice": "wonderland", "bob": "builder"}}
}

func (b *memBackend) identity(account string) *Identity {
	nick := strings.ToUpper(account[:1]) + account[1:]
	return &Identity{Account: account, Nick: nick, NickLocked: true, Session: account}
}

func (b *memBackend) check(login, password string) (*Identity, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if pw, ok := b.passwords[login]; !ok || pw != password {
		return nil, &UserError{Text: "Invalid username or password", Cause: errors.New("bad password for " + login)}
	}
	return b.identity(login), nil
}

func (b *memBackend) AuthenticatePlain(_ context.Context, req AuthRequest) (*Identity, error) {
	b.mu.Lock()
	b.authCalls = append(b.authCalls, req)
	b.mu.Unlock()
	return b.check(req.Authcid, req.Password)
}

func (b *memBackend) Register(_ context.Context, reg Registration) (*Identity, error) {
	b.mu.Lock()
	b.registered = append(b.registered, reg)
	require, force := b.requireLogin, b.forceID
	b.mu.Unlock()
	switch {
	case force != nil:
		return force, nil
	case reg.Login != nil:
		return reg.Login, nil
	case reg.HasPass:
		login, password, _ := strings.Cut(reg.Pass, ":")
		return b.check(login, password)
	case require:
		return nil, &UserError{Text: "Log in with SASL or PASS"}
	}
	return &Identity{Nick: withSuffix(reg.Nick, "|guest"), NickSuffix: "|guest"}, nil
}

func (b *memBackend) Join(_ context.Context, c *Client) error {
	b.mu.Lock()
	hook, err := b.joinHook, b.joinErr
	b.mu.Unlock()
	if hook != nil {
		hook(c)
	}
	return err
}

func (b *memBackend) Post(_ context.Context, c *Client, out Outgoing) (Posted, error) {
	b.mu.Lock()
	if b.postErr != nil {
		err := b.postErr
		b.mu.Unlock()
		return Posted{}, err
	}
	b.posts = append(b.posts, out)
	b.nextID++
	id := "m" + strconv.Itoa(b.nextID)
	b.mu.Unlock()
	m := Message{ID: id, Time: time.Now(), Nick: c.Nick(), Account: c.Account(),
		Command: out.Command, Text: out.Text, Action: out.Action}
	return Posted{Result: Stored, Message: &m}, nil
}

func (b *memBackend) Disconnected(c *Client) {
	b.mu.Lock()
	b.disconnected = append(b.disconnected, c.ID())
	b.mu.Unlock()
}

func (b *memBackend) postCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.posts)
}

// testConfig is a configuration for tests: generous flood limits, no timeouts in the way.
func testConfig() Config {
	return Config{
		ServerName: "irc.test", Network: "TestNet", Channel: "#chat", Topic: "Welcome to the chat",
		MOTD: []string{"Hello"}, Version: "test-1", DefaultHost: "users.test",
		FloodRate: 10000, FloodBurst: 10000, SendQueueLen: 256, History: 50,
	}
}

type testEnv struct {
	t   *testing.T
	srv *Server
	b   *memBackend
	ctx context.Context
}

func newTestEnv(t *testing.T, mutate func(*Config)) *testEnv {
	t.Helper()
	cfg := testConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	b := newMemBackend()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	srv := NewServer(cfg, b, log)
	b.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
	})
	return &testEnv{t: t, srv: srv, b: b, ctx: ctx}
}

// testConn is the client side of a connection to the test server.
type testConn struct {
	t    *testing.T
	conn net.Conn
	r    ircreader.Reader
	nick string
	seq  int
}

// dial connects a client through net.Pipe.
func (e *testEnv) dial() *testConn {
	e.t.Helper()
	client, server := net.Pipe()
	go e.srv.ServeConn(e.ctx, server)
	return newTestConn(e.t, client)
}

func newTestConn(t *testing.T, conn net.Conn) *testConn {
	tc := &testConn{t: t, conn: conn}
	tc.r.Initialize(conn, 512, 1<<16)
	t.Cleanup(func() { conn.Close() })
	return tc
}

func (tc *testConn) send(lines ...string) {
	tc.t.Helper()
	for _, line := range lines {
		_ = tc.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(tc.conn, line+"\r\n"); err != nil {
			tc.t.Fatalf("send %q: %v", line, err)
		}
	}
}

// read returns the next message.
func (tc *testConn) read() ircmsg.Message {
	tc.t.Helper()
	msg, err := tc.tryRead(5 * time.Second)
	if err != nil {
		tc.t.Fatalf("read: %v", err)
	}
	return msg
}

func (tc *testConn) tryRead(timeout time.Duration) (ircmsg.Message, error) {
	_ = tc.conn.SetReadDeadline(time.Now().Add(timeout))
	line, err := tc.r.ReadLine()
	if err != nil {
		return ircmsg.Message{}, err
	}
	if len(line) > maxLineLen+maxTagsLen {
		tc.t.Errorf("server sent an overlong line (%d bytes)", len(line))
	}
	return ircmsg.ParseLine(string(line))
}

// expect reads the next message and checks its command.
func (tc *testConn) expect(command string) ircmsg.Message {
	tc.t.Helper()
	msg := tc.read()
	if msg.Command != command {
		tc.t.Fatalf("expected %s, got %s %q", command, msg.Command, msg.Params)
	}
	return msg
}

// waitFor reads until a message with command arrives, returning it and what came before.
func (tc *testConn) waitFor(command string) (ircmsg.Message, []ircmsg.Message) {
	tc.t.Helper()
	var before []ircmsg.Message
	for {
		msg := tc.read()
		if msg.Command == command {
			return msg, before
		}
		before = append(before, msg)
	}
}

// sync sends a PING and returns every message that arrived before its PONG.
func (tc *testConn) sync() []ircmsg.Message {
	tc.t.Helper()
	tc.seq++
	token := "sync" + strconv.Itoa(tc.seq)
	tc.send("PING " + token)
	var before []ircmsg.Message
	for {
		msg := tc.read()
		if msg.Command == "PONG" && len(msg.Params) == 2 && msg.Params[1] == token {
			return before
		}
		before = append(before, msg)
	}
}

// expectClosed reads until the server closes the connection and returns the ERROR text.
func (tc *testConn) expectClosed() string {
	tc.t.Helper()
	reason := ""
	for {
		msg, err := tc.tryRead(5 * time.Second)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
				return reason
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				tc.t.Fatalf("connection still open (last ERROR %q)", reason)
			}
			return reason
		}
		if msg.Command == "ERROR" {
			reason = msg.Params[0]
		}
	}
}

// register completes a plain registration and reads through the MOTD.
func (tc *testConn) register(nick string, pre ...string) []ircmsg.Message {
	tc.t.Helper()
	tc.send(pre...)
	tc.send("NICK "+nick, "USER u 0 * :Real Name")
	welcome, _ := tc.waitFor("001")
	tc.nick = welcome.Params[0]
	return tc.readWelcome(welcome)
}

// readWelcome reads from 001 to the end of the MOTD (and a following 900) and returns all of it.
func (tc *testConn) readWelcome(first ircmsg.Message) []ircmsg.Message {
	tc.t.Helper()
	all := []ircmsg.Message{first}
	for {
		msg := tc.read()
		all = append(all, msg)
		if msg.Command == "376" || msg.Command == "422" {
			return append(all, tc.sync()...)
		}
	}
}

// registerSASL registers with CAP and SASL PLAIN.
func (tc *testConn) registerSASL(nick, login, password string, caps ...string) []ircmsg.Message {
	tc.t.Helper()
	tc.send("CAP LS 302", "NICK "+nick, "USER u 0 * :Real Name")
	tc.waitFor("CAP")
	tc.send("CAP REQ :" + strings.Join(append([]string{"sasl"}, caps...), " "))
	if ack := tc.expect("CAP"); ack.Params[1] != "ACK" {
		tc.t.Fatalf("CAP REQ: %q", ack.Params)
	}
	tc.send("AUTHENTICATE PLAIN")
	tc.expect("AUTHENTICATE")
	tc.send("AUTHENTICATE " + saslPlain(login, password))
	tc.expect("900")
	tc.expect("903")
	tc.send("CAP END")
	welcome := tc.expect("001")
	tc.nick = welcome.Params[0]
	return tc.readWelcome(welcome)
}

func saslPlain(login, password string) string {
	return b64("\x00" + login + "\x00" + password)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// twoUsers registers alice (SASL, with caps) and bob (PASS), both on the channel.
func twoUsers(t *testing.T, e *testEnv, aliceCaps ...string) (alice, bob *testConn) {
	t.Helper()
	alice = e.dial()
	alice.registerSASL("a", "alice", "wonderland", aliceCaps...)
	alice.joinChannel()
	bob = e.dial()
	bob.register("b", "PASS bob:builder")
	bob.joinChannel()
	alice.sync()
	return alice, bob
}

// joinChannel joins #chat and reads through the end of NAMES (and any history after it).
func (tc *testConn) joinChannel() []ircmsg.Message {
	tc.t.Helper()
	tc.send("JOIN #chat")
	tc.expect("JOIN")
	_, before := tc.waitFor("366")
	return append(before, tc.sync()...)
}

// writeAsync writes raw input without waiting for the server to read it (it may stop reading).
func (tc *testConn) writeAsync(data string) {
	go func() {
		_ = tc.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(tc.conn, data)
	}()
}

func cmdNames(msgs []ircmsg.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Command
	}
	return out
}

func find(msgs []ircmsg.Message, command string) (ircmsg.Message, bool) {
	for _, m := range msgs {
		if m.Command == command {
			return m, true
		}
	}
	return ircmsg.Message{}, false
}

func lastParam(m ircmsg.Message) string {
	if len(m.Params) == 0 {
		return ""
	}
	return m.Params[len(m.Params)-1]
}
