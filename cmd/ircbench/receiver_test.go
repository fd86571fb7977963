package main

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

// fakeServer accepts one connection on loopback and hands it to the test.
func fakeServer(t *testing.T) (addr string, conns <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			ch <- c
		}
	}()
	return ln.Addr().String(), ch
}

// newStep is a fan-out step over n receivers in which each message is expected expect times.
func newStep(n, msgs int, base int64, expect int) *fanStep {
	st := &fanStep{n: n, msgs: msgs, base: base,
		recv: make([]atomic.Int64, msgs*n), count: make([]atomic.Int32, msgs), expect: make([]atomic.Int32, msgs),
		full: make([]chan struct{}, msgs), sent: make([]time.Time, msgs),
		clockAt: make([]atomic.Int64, msgs)}
	for i := range st.full {
		st.full[i] = make(chan struct{})
		st.expect[i].Store(int32(expect))
	}
	return st
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not within 10 s", what)
	}
}

// TestReceiverPoll: a receiver registers, answers PING, notices the end of NAMES, records
// fan-out receipts even when a line arrives in pieces, counts a doubled and an out-of-order
// message, and reports the server closing the connection.
func TestReceiverPoll(t *testing.T) {
	var rec recorder
	st := newStep(3, 3, 100, 1) // only receiver 2 is connected
	rec.step.Store(st)
	p, err := newReceiverPoll(4, &rec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	addr, conns := fakeServer(t)
	rc, err := p.dial(context.Background(), addr, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	srv := <-conns
	defer srv.Close()
	_ = srv.SetDeadline(time.Now().Add(10 * time.Second))
	in := bufio.NewReader(srv)
	for _, want := range []string{"NICK r00002", "USER r00002 0 * ircbench", "JOIN #chat"} {
		line, err := in.ReadString('\n')
		if err != nil {
			t.Fatalf("registration: %v", err)
		}
		msg, err := ircmsg.ParseLine(line)
		if got := strings.Join(append([]string{msg.Command}, msg.Params...), " "); err != nil || got != want {
			t.Fatalf("registration line %q (%v); want %q", line, err, want)
		}
	}
	write := func(s string) {
		t.Helper()
		if _, err := srv.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	write(":srv 366 r00002 #chat :End of /NAMES list.\r\nPING :tok 1\r\n")
	waitClosed(t, rc.joined, "joined")
	if line, err := in.ReadString('\n'); err != nil || line != "PONG :tok 1\r\n" {
		t.Fatalf("PONG = %q, %v", line, err)
	}

	write(":a!a@h PRIVMSG #chat :fo 10")
	write("0\r\n@time=x :a!a@h PRIVMSG #chat :fo 102\r\n")
	waitClosed(t, st.full[0], "message 100")
	waitClosed(t, st.full[2], "message 102")
	if st.recv[1*3+2].Load() != 0 {
		t.Error("message 101 recorded but never sent")
	}
	write(":a!a@h PRIVMSG #chat :fo 102\r\n:a!a@h PRIVMSG #chat :fo 101\r\n:a!a@h PRIVMSG #chat :hello\r\n")
	waitClosed(t, st.full[1], "message 101")
	if d, o := rc.dup.Load(), rc.ooo.Load(); d != 1 || o != 1 {
		t.Errorf("doubled %d, out of order %d; want 1 and 1", d, o)
	}

	write("ERROR :Closing link\r\n")
	srv.Close()
	waitClosed(t, rc.done, "done after the server closed")
	if p := rc.err.Load(); p == nil || !strings.Contains(*p, "ERROR :Closing link") {
		t.Errorf("receiver error = %v, want the ERROR line", p)
	}
	if rc.alive() {
		t.Error("receiver alive after the server closed")
	}
}

// TestReceiverPollRejectsIndexOutsideItsSlots: the poll loop finds receivers by index.
func TestReceiverPollRejectsIndexOutsideItsSlots(t *testing.T) {
	var rec recorder
	p, err := newReceiverPoll(1, &rec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.dial(context.Background(), "127.0.0.1:1", 1); err == nil {
		t.Fatal("dial with index 1 of 1 slot succeeded")
	}
}
