package ircd

import (
	"bytes"
	"net"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircreader"
)

func BenchmarkParseLine(b *testing.B) {
	e := newTestEnv(&testing.T{}, nil)
	c := newClient(e.srv, e.ctx, nopConn{}, e.srv.cfg())
	c.addCaps(capMessageTags)
	line := []byte("@+draft/reply=abc123;+typing=done PRIVMSG #chat :Hello there, how is everyone doing today? \x02bold\x02 ünïcödé")
	b.ReportAllocs()
	for b.Loop() {
		msg, err := c.parseLine(string(line))
		if err != nil || msg.Command != "PRIVMSG" {
			b.Fatal(err)
		}
	}
}

// BenchmarkBroadcastSerialise measures Broadcast's serialisation and queueing to 1000 members
// with a mix of capabilities (no network: queues are emptied between rounds).
func BenchmarkBroadcastSerialise(b *testing.B) {
	e := newTestEnv(&testing.T{}, func(c *Config) { c.SendQueueLen = 1 << 20 })
	variantsOf := []capSet{0, capMessageTags | capServerTime | capAccountTag, capServerTime, capMessageTags}
	members := make([]*Client, 1000)
	e.srv.mu.Lock()
	for i := range members {
		c := newClient(e.srv, e.ctx, nopConn{}, e.srv.cfg())
		c.addCaps(variantsOf[i%len(variantsOf)])
		c.joinState = joined
		e.srv.addMemberLocked(c)
		members[i] = c
	}
	e.srv.mu.Unlock()
	m := Message{ID: "01HX", Time: time.Now(), Nick: "Alice", Account: "alice",
		Text: "A message of ordinary length, with a few words in it, like people write in a chat."}
	b.ReportAllocs()
	for b.Loop() {
		e.srv.Broadcast(m, nil)
		for _, c := range members {
			c.qmu.Lock()
			clear(c.queue)
			c.queue, c.qbytes = c.queue[:0], 0
			c.qmu.Unlock()
		}
	}
}

// nopConn is a net.Conn for clients that never run their goroutines.
type nopConn struct{ net.Conn }

func (nopConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// joinedClients registers n clients over net.Pipe and puts them on the channel directly (no
// NAMES, which would make the setup quadratic). Each gets a goroutine that reports the time
// it received each PRIVMSG.
func joinedClients(tb testing.TB, e *testEnv, n int, got chan<- time.Time, dial func() net.Conn) []net.Conn {
	conns := make([]net.Conn, n)
	for i := range conns {
		client := dial()
		var r ircreader.Reader
		r.Initialize(client, 512, 1<<14)
		_, _ = client.Write([]byte("NICK n" + strconv.Itoa(i) + "\r\nUSER u 0 * :x\r\n"))
		for {
			line, err := r.ReadLine()
			if err != nil {
				tb.Fatal(err)
			}
			if msg, _ := ircmsg.ParseLine(string(line)); msg.Command == "376" {
				break
			}
		}
		conns[i] = client
		if got != nil {
			go func() {
				for {
					line, err := r.ReadLine()
					if err != nil {
						return
					}
					if bytes.Contains(line, []byte(" PRIVMSG ")) {
						got <- time.Now()
					}
				}
			}()
		}
	}
	e.srv.mu.Lock()
	for _, u := range e.srv.users {
		for _, c := range u.conns {
			c.joinState = joined
			e.srv.addMemberLocked(c)
			e.srv.countJoinLocked(u)
		}
	}
	e.srv.mu.Unlock()
	return conns
}

func pipeDialer(e *testEnv) func() net.Conn {
	return func() net.Conn {
		client, server := net.Pipe()
		go e.srv.ServeConn(e.ctx, server)
		return client
	}
}

// tcpDialer serves e on a loopback port and dials it. With written set, the server side of each
// connection reports when a write with a PRIVMSG has been handed to the kernel.
func tcpDialer(tb testing.TB, e *testEnv, written chan<- time.Time) func() net.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			if written != nil {
				conn = timedConn{conn, written}
			}
			go e.srv.ServeConn(e.ctx, conn)
		}
	}()
	e.t.Cleanup(func() { ln.Close() })
	return func() net.Conn {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			tb.Fatal(err)
		}
		return conn
	}
}

// timedConn reports the end of each write that carries a PRIVMSG (a fan-out batch is one line).
type timedConn struct {
	net.Conn
	written chan<- time.Time
}

func (c timedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if bytes.Contains(b, []byte(" PRIVMSG ")) {
		c.written <- time.Now()
	}
	return n, err
}

// fanoutLatencies broadcasts rounds messages to n receivers and returns the delay of each
// delivery: as received by client goroutines in this process (both sides share the CPUs), or
// with serverSide, until the server's write of it returned (clients not reading).
func fanoutLatencies(tb testing.TB, n, rounds int, serverSide bool) []time.Duration {
	e := newTestEnv(&testing.T{}, nil)
	got := make(chan time.Time, n)
	var conns []net.Conn
	if serverSide {
		conns = joinedClients(tb, e, n, nil, tcpDialer(tb, e, got))
	} else {
		conns = joinedClients(tb, e, n, got, tcpDialer(tb, e, nil))
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var lat []time.Duration
	for r := 0; r < rounds; r++ {
		start := time.Now()
		e.srv.Broadcast(Message{Nick: "Alice", Text: "round " + strconv.Itoa(r)}, nil)
		for i := 0; i < n; i++ {
			lat = append(lat, (<-got).Sub(start))
		}
	}
	slices.Sort(lat)
	return lat
}

func percentile(lat []time.Duration, p float64) time.Duration {
	return lat[min(len(lat)-1, int(float64(len(lat))*p))]
}

// BenchmarkFanout5000 reports the delay of a broadcast to 5000 loopback connections: until the
// server's write returned (written-*), and until clients in this process read it (read-*; they
// compete with the server for the same two cores).
func BenchmarkFanout5000(b *testing.B) {
	written := fanoutLatencies(b, 5000, 20, true)
	b.ReportMetric(ms(percentile(written, 0.99)), "written-p99-ms")
	b.ReportMetric(ms(written[len(written)-1]), "written-max-ms")
	read := fanoutLatencies(b, 5000, 20, false)
	b.ReportMetric(ms(percentile(read, 0.99)), "read-p99-ms")
	b.ReportMetric(ms(read[len(read)-1]), "read-max-ms")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func TestFanoutLatency(t *testing.T) {
	lat := fanoutLatencies(t, 300, 5, false)
	if p99 := percentile(lat, 0.99); p99 > time.Second {
		t.Errorf("p99 delivery delay to 300 clients = %v", p99)
	}
}

// BenchmarkIdleConnMemory reports heap and stack bytes per idle joined connection (both
// connection ends are in this process, so it is an upper bound for the server's share).
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 5000
	var heap, stack int64
	for b.Loop() {
		heap, stack = idleConnMemory(b, n)
	}
	b.ReportMetric(float64(heap+stack)/n, "bytes/conn")
	b.ReportMetric(float64(heap)/n, "heap-bytes/conn")
	b.ReportMetric(float64(stack)/n, "stack-bytes/conn")
}

// idleConnMemory joins n clients and returns the heap and stack bytes they added, once all
// are idle; it returns after the server has let go of them all, so that calls can be repeated.
func idleConnMemory(b *testing.B, n int) (heap, stack int64) {
	e := newTestEnv(&testing.T{}, nil)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	// Loopback TCP, as in a deployment: the read path decides how far an idle reader's
	// stack can shrink. The figures include the benchmark's own client ends (no goroutines).
	conns := joinedClients(b, e, n, nil, tcpDialer(b, e, nil))
	runtime.GC()
	runtime.GC() // stacks shrink during a GC's scan; the second sees the first's result
	runtime.ReadMemStats(&after)
	heap = int64(after.HeapInuse) - int64(before.HeapInuse)
	stack = int64(after.StackInuse) - int64(before.StackInuse)
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() { defer wg.Done(); c.Close() }()
	}
	wg.Wait()
	e.srv.wg.Wait() // every connection's reader and writer has returned
	return heap, stack
}
