package ircd

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBadInput(t *testing.T) {
	long := "PRIVMSG #chat :" + strings.Repeat("x", 500)
	tests := []struct {
		name  string
		caps  string
		lines []string
		want  []string
	}{
		{"overlong line", "", []string{long}, []string{"417"}},
		{"510 bytes fit", "", []string{"PING :" + strings.Repeat("y", 504)}, []string{"PONG"}},
		{"tags without message-tags count", "", []string{"@+a=" + strings.Repeat("t", 600) + " PING x"}, []string{"417"}},
		{"tags with message-tags", "message-tags", []string{"@+a=" + strings.Repeat("t", 4000) + " PING x"}, []string{"PONG"}},
		{"tags over 8191", "message-tags", []string{"@+a=" + strings.Repeat("t", 8200) + " PING x"}, []string{"417"}},
		{"body over 510 after tags", "message-tags", []string{"@+a=b " + long}, []string{"417"}},
		{"NUL", "", []string{"PING a\x00b"}, []string{"NOTICE"}},
		{"stray CR", "", []string{"PING a\rNICK evil"}, []string{"NOTICE"}},
		{"stray CR with standard-replies", "standard-replies", []string{"PING a\rb"}, []string{"FAIL"}},
		{"invalid UTF-8", "standard-replies", []string{"PRIVMSG #chat :\xff\xfe"}, []string{"FAIL"}},
		{"invalid UTF-8 without standard-replies", "", []string{"PRIVMSG #chat :\xff\xfe", "NICK \xff"}, []string{"FAIL", "FAIL"}},
		{"TAGMSG whose one tag is over the relay budget", "message-tags", []string{"@+a=" + strings.Repeat("t", 5000) + " TAGMSG #chat"}, []string{"417"}},
		{"empty and blank lines", "", []string{"", "   "}, nil},
		{"unknown command", "", []string{"FROBNICATE now"}, []string{"421"}},
		{"missing params", "", []string{"JOIN", "JOIN :", "MODE", "WHOIS", "TOPIC"}, []string{"461", "461", "461", "461", "461"}},
		{"only a source", "", []string{":src"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, nil)
			tc := e.dial()
			pre := []string{"CAP END"}
			if tt.caps != "" {
				pre = []string{"CAP REQ :" + tt.caps, "CAP END"}
			}
			tc.register("bad", pre...)
			tc.send(tt.lines...)
			if got := cmdNames(tc.sync()); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if e.b.postCount() != 0 {
				t.Error("something was posted")
			}
		})
	}
}

// TestHugeLineSurvives sends a line longer than the read buffer: 417 once, and the connection
// goes on with the next line.
func TestHugeLineSurvives(t *testing.T) {
	e := newTestEnv(t, nil)
	tc := e.dial()
	tc.register("huge")
	tc.writeAsync(strings.Repeat("A", 50000) + "\r\nPING :after\r\n")
	tc.expect("417")
	if pong := tc.expect("PONG"); lastParam(pong) != "after" {
		t.Errorf("PONG %q", pong.Params)
	}
}

// TestGarbage sends thousands of random lines; the connection survives and nothing is posted.
func TestGarbage(t *testing.T) {
	e := newTestEnv(t, nil)
	tc := e.dial()
	tc.register("garbage")
	rng := rand.New(rand.NewPCG(1, 2))
	var buf strings.Builder
	for i := 0; i < 3000; i++ {
		n := rng.IntN(700)
		for j := 0; j < n; j++ {
			b := byte(rng.IntN(256))
			if b == '\n' {
				b = ' '
			}
			buf.WriteByte(b)
		}
		buf.WriteString("\r\n")
	}
	buf.WriteString("PING :done\r\n")
	tc.writeAsync(buf.String())
	for {
		m := tc.read()
		if m.Command == "PONG" && lastParam(m) == "done" {
			break
		}
		if m.Command == "ERROR" {
			t.Fatalf("disconnected: %q", m.Params)
		}
	}
	if e.b.postCount() != 0 {
		t.Error("garbage was posted")
	}
}

// TestSlowConsumer: a client that does not read is dropped with SendQ exceeded, while a client
// that reads gets every message without delay.
func TestSlowConsumer(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.SendQueueLen = 64 })
	slow := e.dial()
	slow.register("slow")
	slow.joinChannel()
	fast := e.dial()
	fast.register("fast")
	fast.joinChannel()
	slow.expect("JOIN")

	var worst time.Duration
	for round := 0; round < 20; round++ {
		start := time.Now()
		for i := 0; i < 20; i++ {
			e.srv.Broadcast(Message{Nick: "Zed", Text: "line " + strconv.Itoa(i)}, nil)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("round %d: Broadcast blocked for %v", round, d)
		}
		for i := 0; i < 20; i++ {
			if m := fast.expect("PRIVMSG"); lastParam(m) != "line "+strconv.Itoa(i) {
				t.Fatalf("fast got %q", lastParam(m))
			}
		}
		worst = max(worst, time.Since(start))
	}
	if worst > time.Second {
		t.Errorf("the reading client waited up to %v", worst)
	}
	if reason := slow.expectClosed(); reason != "SendQ exceeded" {
		t.Errorf("slow ERROR = %q", reason)
	}
}

func TestExcessFlood(t *testing.T) {
	e := newTestEnv(t, func(c *Config) {
		c.FloodRate, c.FloodBurst, c.FloodMaxLag = 20, 5, 200*time.Millisecond
	})
	tc := e.dial()
	tc.register("flooder")
	tc.writeAsync(strings.Repeat("PING :f\r\n", 100))
	if reason := tc.expectClosed(); reason != "Excess Flood" {
		t.Errorf("ERROR = %q", reason)
	}
}

func TestFakelagPacesWithoutDropping(t *testing.T) {
	e := newTestEnv(t, func(c *Config) {
		c.FloodRate, c.FloodBurst, c.FloodMaxLag = 200, 5, 2*time.Second
	})
	tc := e.dial()
	tc.register("paster")
	var pings strings.Builder
	for i := 0; i < 40; i++ {
		pings.WriteString("PING :p" + strconv.Itoa(i) + "\r\n")
	}
	tc.writeAsync(pings.String())
	start := time.Now()
	for i := 0; i < 40; i++ {
		if m := tc.expect("PONG"); lastParam(m) != "p"+strconv.Itoa(i) {
			t.Fatalf("PONG %q", m.Params)
		}
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("35 lines over the burst took only %v: no fakelag", d)
	}
}

func TestConnectionLimits(t *testing.T) {
	t.Run("max clients", func(t *testing.T) {
		e := newTestEnv(t, func(c *Config) { c.MaxClients = 2 })
		e.dial().register("one")
		e.dial().register("two")
		third := e.dial()
		if reason := third.expectClosed(); !strings.Contains(reason, "Too many connections") {
			t.Errorf("ERROR = %q", reason)
		}
	})
	t.Run("per IP", func(t *testing.T) {
		e := newTestEnv(t, func(c *Config) { c.MaxClientsPerIP = 1 })
		ln := listen(t, e)
		first := dialTCP(t, ln)
		first.register("one")
		second := dialTCP(t, ln)
		if reason := second.expectClosed(); !strings.Contains(reason, "from your address") {
			t.Errorf("ERROR = %q", reason)
		}
		if n := e.srv.ClientCount(); n != 1 {
			t.Errorf("ClientCount = %d", n)
		}
	})
}

// listen serves the test server on a loopback port.
func listen(t *testing.T, e *testEnv) net.Listener {
	t.Helper()
	return serveOn(t, e, nil)
}

// serveOn serves e on a new loopback port, over TLS when tlsCfg is set.
func serveOn(t *testing.T, e *testEnv, tlsCfg *tls.Config) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(e.ctx, ln) }()
	t.Cleanup(func() {
		_ = ln.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln
}

func dialTCP(t *testing.T, ln net.Listener) *testConn {
	t.Helper()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return newTestConn(t, conn)
}

func TestShutdownSendsError(t *testing.T) {
	e := newTestEnv(t, nil)
	ln := listen(t, e)
	a := dialTCP(t, ln)
	a.register("a")
	a.joinChannel()
	b := e.dial()
	b.register("b")
	unregistered := e.dial()
	unregistered.send("NICK c")
	unregistered.sync()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- e.srv.Shutdown(ctx) }()
	for _, tc := range []*testConn{a, b, unregistered} {
		if reason := tc.expectClosed(); reason != "server shutting down" {
			t.Errorf("ERROR = %q", reason)
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := e.srv.ClientCount(); n != 0 {
		t.Errorf("ClientCount after shutdown = %d", n)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

func TestServeConnContextCancel(t *testing.T) {
	e := newTestEnv(t, nil)
	ctx, cancel := context.WithCancel(e.ctx)
	client, server := net.Pipe()
	go e.srv.ServeConn(ctx, server)
	tc := newTestConn(t, client)
	tc.register("ctx")
	cancel()
	if reason := tc.expectClosed(); reason != "server shutting down" {
		t.Errorf("ERROR = %q", reason)
	}
}

// TestConcurrentChatter runs several clients talking at once, with broadcasts, notices, reloads
// and queries in between (mainly for the race detector); everyone gets everything.
func TestConcurrentChatter(t *testing.T) {
	const clients, each, extra = 8, 40, 30
	e := newTestEnv(t, func(c *Config) { c.SendQueueLen = 4096 })
	ln := listen(t, e)
	conns := make([]*testConn, clients)
	for i := range conns {
		conns[i] = dialTCP(t, ln)
		conns[i].register("talker" + strconv.Itoa(i))
		conns[i].joinChannel()
	}
	for _, tc := range conns {
		tc.sync() // the JOINs of those after it
	}
	var wg sync.WaitGroup
	counts := make([]int, clients)
	for i, tc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := (clients-1)*each + extra
			for counts[i] < want {
				msg, err := tc.tryRead(10 * time.Second)
				if err != nil {
					return
				}
				if msg.Command == "PRIVMSG" {
					counts[i]++
				}
			}
		}()
		tc.writeAsync(strings.Repeat("PRIVMSG #chat :chatter\r\nWHO #chat\r\n", each))
	}
	for i := 0; i < extra; i++ {
		e.srv.Broadcast(Message{Nick: "Zed", Text: "from the backend"}, nil)
		e.srv.NoticeAll("notice " + strconv.Itoa(i))
		cfg := testConfig()
		cfg.SendQueueLen = 4096
		cfg.Topic = "topic " + strconv.Itoa(i%2)
		e.srv.Reload(cfg)
	}
	wg.Wait()
	for i, n := range counts {
		if want := (clients-1)*each + extra; n != want {
			t.Errorf("client %d got %d PRIVMSGs, want %d", i, n, want)
		}
	}
}

// TestHostileBackendValues: spaces, CR/LF and NUL in what the backend and the configuration
// supply never break a line.
func TestHostileBackendValues(t *testing.T) {
	e := newTestEnv(t, func(c *Config) {
		c.Topic = "two\r\nlines"
		c.Version = "directus-ircd 1.0"
		c.MOTD = []string{"a\nb"}
	})
	e.b.forceID = &Identity{Account: "x y", User: "bad user", Host: "bad host", Nick: "Evil"}
	tc := e.dial()
	msgs := tc.register("evil")
	if m, ok := find(msgs, "004"); !ok || m.Params[2] != "directus-ircd_1.0" {
		t.Errorf("004 = %q", m.Params)
	}
	if m, ok := find(msgs, "900"); !ok || m.Params[1] != "Evil!xy@users.test" || m.Params[2] != "x_y" {
		t.Errorf("900 = %q", m.Params)
	}
	if m, ok := find(msgs, "372"); !ok || lastParam(m) != "- a  b" { // irc-go's SanitizeText: a line break becomes two spaces
		t.Errorf("372 = %q", m.Params)
	}
	tc.send("JOIN #chat")
	tc.expect("JOIN")
	if m := tc.expect("332"); lastParam(m) != "two  lines" {
		t.Errorf("332 = %q", m.Params)
	}
	tc.waitFor("366")
	e.srv.Broadcast(Message{Nick: "a\r\nQUIT", User: "u u", Host: "h\x00h", Account: "a b", Text: "x\x00y\r\nPRIVMSG #chat :z"}, nil)
	got := tc.sync()
	if len(got) != 2 || got[0].Source != "a__QUIT!uu@users.test" || lastParam(got[0]) != "xy" || lastParam(got[1]) != "PRIVMSG #chat :z" {
		t.Errorf("broadcast = %v", got)
	}

	e.b.forceID = &Identity{Account: "y", Nick: "has space"}
	bad := e.dial()
	bad.send("NICK n", "USER u 0 * :x")
	bad.expect("432")
	if reason := bad.expectClosed(); !strings.Contains(reason, "Invalid nick") {
		t.Errorf("ERROR = %q", reason)
	}
}

// Lines a client sent before Shutdown are still handled: their effects and replies arrive
// before the closing ERROR.
func TestShutdownHandlesLinesAlreadySent(t *testing.T) {
	e := newTestEnv(t, nil)
	ln := listen(t, e)
	a := dialTCP(t, ln)
	a.register("a")
	a.joinChannel()
	var burst strings.Builder
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&burst, "PRIVMSG #chat :line %d\r\n", i)
	}
	burst.WriteString("PING :last\r\n")
	a.writeAsync(burst.String())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() { _ = e.srv.Shutdown(ctx) }()
	sawPong := false
	for {
		m, err := a.tryRead(5 * time.Second)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if m.Command == "PONG" {
			sawPong = true
		}
		if m.Command == "ERROR" {
			break
		}
	}
	if !sawPong || e.b.postCount() != 20 {
		t.Fatalf("before ERROR: PONG %v, %d of 20 messages posted", sawPong, e.b.postCount())
	}
}
