package main

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
	}
}

// A receiver registers, answers PING, counts the end of NAMES, records fan-out receipts even
// when a line arrives in pieces, counts a doubled and an out-of-order message and a receipt
// outside the step, and reports the server closing the connection.
func TestReceiverPoll(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p, err := newReceiverPoll(1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	st := newStep(1, 3, 100)
	for m := range 3 {
		st.left[m].Store(1)
	}
	p.step.Store(st)
	if err := p.dial(ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if err := p.dial(ln.Addr().String()); err == nil {
		t.Error("a second dial into a poll of one succeeded")
	}
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_ = srv.SetDeadline(time.Now().Add(10 * time.Second))
	in := bufio.NewReader(srv)
	for _, want := range []string{"NICK r00000", "USER r00000 0 * ircbench", "JOIN #chat"} {
		if line, err := in.ReadString('\n'); err != nil || line != want+"\r\n" {
			t.Fatalf("registration line %q (%v); want %q", line, err, want)
		}
	}
	write := func(s string) {
		t.Helper()
		if _, err := srv.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	write(":srv 366 r00000 #chat :End of /NAMES list.\r\nPING :tok 1\r\n")
	waitFor(t, "joined", func() bool { return p.joined.Load() == 1 })
	if line, err := in.ReadString('\n'); err != nil || line != "PONG :tok 1\r\n" {
		t.Fatalf("PONG = %q, %v", line, err)
	}
	write(":a!a@h PRIVMSG #chat :fo 10")
	write("0\r\n:a!a@h PRIVMSG #chat :fo 102\r\n")
	for _, m := range []int{0, 2} {
		waitFor(t, "messages 100 and 102", func() bool { return st.recv[m].Load() != 0 })
	}
	if st.recv[1].Load() != 0 {
		t.Error("message 101 recorded but never sent")
	}
	write(":a!a@h PRIVMSG #chat :fo 102\r\n:a!a@h PRIVMSG #chat :fo 101\r\n:a!a@h PRIVMSG #chat :fo 999\r\n")
	waitFor(t, "three more", func() bool { return p.outside.Load() == 1 })
	if d, o := p.dup.Load(), p.ooo.Load(); d != 1 || o != 1 || st.recv[1].Load() == 0 {
		t.Errorf("doubled %d, out of order %d, 101 at %d; want 1, 1 and a time", d, o, st.recv[1].Load())
	}
	write("ERROR :Closing link\r\n")
	waitFor(t, "done after ERROR", func() bool { return p.live() == 0 })
	if e := p.lastErr.Load(); e == nil || !strings.Contains(*e, "ERROR :Closing link") {
		t.Errorf("receiver error = %v, want the ERROR line", e)
	}
}
