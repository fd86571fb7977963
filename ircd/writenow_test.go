package ircd

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// tcpPair is a connected loopback TCP pair: the server side (written to) and the client side.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server.(*net.TCPConn), client.(*net.TCPConn)
}

func TestWriteNow(t *testing.T) {
	t.Run("socket with room takes every line", func(t *testing.T) {
		server, client := tcpPair(t)
		lines := [][]byte{[]byte("one\r\n"), []byte("two\r\n")}
		if rest := writeNow(rawConn(server), lines); rest != nil {
			t.Fatalf("rest = %q, want nil", rest)
		}
		got := make([]byte, 10)
		if _, err := io.ReadFull(client, got); err != nil {
			t.Fatal(err)
		}
		if string(got) != "one\r\ntwo\r\n" {
			t.Fatalf("peer read %q", got)
		}
	})

	t.Run("full socket returns the unwritten tail without touching the shared lines", func(t *testing.T) {
		server, client := tcpPair(t)
		if err := server.SetWriteBuffer(4096); err != nil {
			t.Fatal(err)
		}
		line := bytes.Repeat([]byte("x"), 500)
		line = append(line, '\r', '\n')
		lines := [][]byte{line, []byte("last\r\n")}
		orig := [][]byte{bytes.Clone(lines[0]), bytes.Clone(lines[1])}
		var rest [][]byte
		calls := 0
		for ; calls < 100000 && rest == nil; calls++ {
			rest = writeNow(rawConn(server), lines)
		}
		if rest == nil {
			t.Fatal("the socket never filled although the peer is not reading")
		}
		if &rest[0] == &lines[0] || !bytes.Equal(lines[0], orig[0]) || !bytes.Equal(lines[1], orig[1]) {
			t.Fatal("writeNow modified or returned the caller's slice")
		}
		// What the writer goroutine sends next (the rest) completes the last call's lines:
		// the peer must read every call's lines exactly once.
		go func() {
			for _, l := range rest {
				if _, err := server.Write(l); err != nil {
					break
				}
			}
			server.CloseWrite()
		}()
		want := bytes.Repeat(bytes.Join(lines, nil), calls)
		got, err := io.ReadAll(client)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("peer read %d bytes, want %d: bytes lost or doubled between writeNow and its rest", len(got), len(want))
		}
	})

	t.Run("closed socket returns every line as a copy", func(t *testing.T) {
		server, _ := tcpPair(t)
		raw := rawConn(server)
		server.Close()
		lines := [][]byte{[]byte("a\r\n")}
		rest := writeNow(raw, lines)
		if len(rest) != 1 || string(rest[0]) != "a\r\n" || &rest[0] == &lines[0] {
			t.Fatalf("rest = %q", rest)
		}
	})

	t.Run("a pipe has no raw socket", func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		if rawConn(a) != nil {
			t.Fatal("net.Pipe reported a raw socket")
		}
	})
}
