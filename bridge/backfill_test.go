package bridge_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/directus-ircd/directus-ircd/bridge"
)

// cutProxy is a loopback TCP proxy in front of Directus whose link the test cuts and
// restores: the daemon loses Directus while the test (talking to Directus directly) goes on
// creating items, with no race against the daemon's reconnect.
type cutProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	go p.serve()
	return p
}

func (p *cutProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *cutProxy) pipe(c net.Conn) {
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		c.Close()
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// setCut cuts (closing every proxied connection, refusing new ones) or restores the link.
func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
	}
}

// After a long outage the back-fill reads the missed items in pages and delivers them at the
// pace of the clients' send queues: 2,000 items created while the daemon was cut off from
// Directus reach a client with the default send queue (1,024 lines) that reads at about
// 300 lines (120 KB) a second, without "SendQ exceeded"; beyond channel.backfill_max only the newest
// are delivered and the client is told how many were left out.
func TestBackfillIsPagedPacedAndCapped(t *testing.T) {
	const created, limit = 2000, 1800
	filler := strings.TrimSpace(strings.Repeat("lorem ipsum ", 30)) // a line of about 400 bytes
	s := provisioned(t, nil)
	s.cfg.Server.SendQueue = 1024
	s.cfg.Channel.BackfillMax = limit
	proxy := newCutProxy(t, strings.TrimPrefix(s.dx.URL, "http://"))
	s.cfg.Directus.URL = proxy.URL() // the daemon goes through the proxy; the test's own calls do not
	s.start()
	reader := slowReader(t, s.d.addr)
	web := s.web("carol@example.com", "carolpass")
	web.send("before the cut")
	reader.expect(t, "before the cut")
	_ = web.conn.Close() // it would not read the 2,000 events

	proxy.setCut(true)
	waitState(t, s.d.Bridge(), bridge.StateUnreachable, 30*time.Second)
	for batch := 0; batch < created/500; batch++ {
		items := make([]map[string]any, 500)
		for i := range items {
			items[i] = map[string]any{"text": fmt.Sprintf("bf-%d %s", batch*500+i+1, filler)}
		}
		adminDo(t, s, http.MethodPost, "/items/messages", items)
	}
	cut := time.Now()
	stopSampling := make(chan struct{})
	maxFill := sampleQueueFill(s.d.Server(), stopSampling)
	proxy.setCut(false)
	live := waitState(t, s.d.Bridge(), bridge.StateReady, 30*time.Second)

	first := created - limit + 1
	var notice string
	for n := first; n <= created; n++ {
		m := reader.next(t)
		for m.Command == "NOTICE" {
			if strings.Contains(text(m), "not shown") {
				notice = text(m)
			}
			m = reader.next(t)
		}
		if m.Command != "PRIVMSG" || text(m) != fmt.Sprintf("bf-%d %s", n, filler) {
			t.Fatalf("after %d back-filled lines got %s %v, want PRIVMSG bf-%d", n-first, m.Command, m.Params, n)
		}
	}
	if want := fmt.Sprintf("%d older ones are not shown", created-limit); !strings.Contains(notice, want) || !strings.Contains(notice, "web page") {
		t.Errorf("skip notice = %q, want one saying %q and pointing to the web page", notice, want)
	}
	close(stopSampling)
	fill := <-maxFill
	t.Logf("FIGURES back-fill: %d missed, %d delivered to a 1,024-line queue read at ~300 lines (120 KB)/s in %s "+
		"(subscription live after %s, fullest send queue %.0f%%), %d announced as skipped",
		created, limit, time.Since(cut).Round(time.Millisecond), live.Since.Sub(cut).Round(time.Millisecond), 100*fill, created-limit)
	if fill > 0.6 {
		t.Errorf("a send queue reached %.0f%% during the back-fill; pacing keeps it near 50%%", 100*fill)
	}
}

// sampleQueueFill records the fullest send queue until stop is closed (a measurement, not a
// synchronisation).
func sampleQueueFill(srv interface{ SendQueueFill() float64 }, stop <-chan struct{}) <-chan float64 {
	out := make(chan float64, 1)
	go func() {
		most := 0.0
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				out <- most
				return
			case <-t.C:
				most = max(most, srv.SendQueueFill())
			}
		}
	}()
	return out
}

// lineReader is an IRC client that reads slowly, like one on a slow link: a small socket
// buffer and a pause per line, so the server's send queue for it fills during a burst.
type lineReader struct {
	conn net.Conn
	r    *bufio.Reader
}

func slowReader(t *testing.T, addr string) *lineReader {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	for _, l := range []string{"PASS bob:bobpass", "NICK b", "USER u 0 * x", "JOIN " + channel} {
		fmt.Fprintf(conn, "%s\r\n", l)
	}
	r := &lineReader{conn: conn, r: bufio.NewReader(conn)}
	for m := r.next(t); m.Command != "366"; m = r.next(t) {
	}
	return r
}

// next reads the next line that is not a PING (answered) or a history replay.
func (r *lineReader) next(t *testing.T) ircmsg.Message {
	t.Helper()
	for {
		_ = r.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := r.r.ReadString('\n')
		if err != nil {
			t.Fatalf("slow reader: %v", err)
		}
		time.Sleep(3 * time.Millisecond) // the slow link: about 300 lines (120 KB) a second
		m, err := ircmsg.ParseLine(strings.TrimRight(line, "\r\n"))
		if err != nil {
			t.Fatalf("slow reader: %q: %v", line, err)
		}
		switch m.Command {
		case "PING":
			fmt.Fprintf(r.conn, "PONG :%s\r\n", text(m))
			continue
		case "ERROR":
			t.Fatalf("slow reader disconnected: %v", m.Params)
		}
		return m
	}
}

func (r *lineReader) expect(t *testing.T, want string) {
	t.Helper()
	for {
		if m := r.next(t); m.Command == "PRIVMSG" && text(m) == want {
			return
		}
	}
}
