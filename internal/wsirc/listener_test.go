package wsirc

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/directus-ircd/directus-ircd/internal/testcert"
)

const testTimeout = 10 * time.Second

// startListener listens on a free loopback port; it is closed at the end of the test.
func startListener(t *testing.T, cfg Config) (*Listener, string) {
	t.Helper()
	l, err := Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	scheme := "ws"
	if cfg.TLS != nil {
		scheme = "wss"
	}
	return l, scheme + "://" + l.Addr().String() + "/"
}

// accept waits for the listener's next connection.
func accept(t *testing.T, l *Listener) *Conn {
	t.Helper()
	got := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Errorf("accept: %v", err)
		}
		got <- c
	}()
	select {
	case c := <-got:
		if c == nil {
			t.FailNow()
		}
		t.Cleanup(func() { _ = c.Close() })
		return c.(*Conn)
	case <-time.After(testTimeout):
		t.Fatal("no connection accepted")
		return nil
	}
}

// dial opens a client WebSocket offering protocols, with extra request headers.
func dial(t *testing.T, url string, protocols []string, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: protocols, HandshakeTimeout: testTimeout}
	ws, resp, err := d.Dial(url, header)
	if ws != nil {
		t.Cleanup(func() { _ = ws.Close() })
		_ = ws.SetReadDeadline(time.Now().Add(testTimeout))
	}
	return ws, resp, err
}

// connect dials and accepts: the client's and the server's end.
func connect(t *testing.T, l *Listener, url string, protocols ...string) (*websocket.Conn, *Conn) {
	t.Helper()
	ws, _, err := dial(t, url, protocols, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return ws, accept(t, l)
}

// readLine reads one line from the server's end.
func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("server read: %v", err)
	}
	return line
}

// expectMessage reads the client's next message and checks its type and content.
func expectMessage(t *testing.T, ws *websocket.Conn, wantType int, want string) {
	t.Helper()
	typ, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("client read: %v", err)
	}
	if typ != wantType || string(data) != want {
		t.Fatalf("client got message type %d %q, want type %d %q", typ, data, wantType, want)
	}
}

// expectClose reads until the server's close frame and checks its code.
func expectClose(t *testing.T, ws *websocket.Conn, code int) {
	t.Helper()
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code {
			t.Fatalf("client: %v, want close code %d", err, code)
		}
		return
	}
}

// The subprotocol follows the client's preference; without one the server speaks text. Each
// line the server writes is one message of the negotiated type, without CR LF, even when one
// Write carries several lines; each message the client sends is one line, of either type.
func TestSubprotocolsAndFraming(t *testing.T) {
	l, url := startListener(t, Config{})
	for _, tc := range []struct {
		name    string
		offered []string
		want    string
		typ     int
	}{
		{"text", []string{TextProtocol}, TextProtocol, websocket.TextMessage},
		{"binary", []string{BinaryProtocol}, BinaryProtocol, websocket.BinaryMessage},
		{"binary preferred", []string{BinaryProtocol, TextProtocol}, BinaryProtocol, websocket.BinaryMessage},
		{"text preferred", []string{"chat", TextProtocol, BinaryProtocol}, TextProtocol, websocket.TextMessage},
		{"none offered", nil, "", websocket.TextMessage},
		{"unknown offered", []string{"irc"}, "", websocket.TextMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, c := connect(t, l, url, tc.offered...)
			if ws.Subprotocol() != tc.want || c.Subprotocol() != tc.want {
				t.Fatalf("negotiated %q (server %q), want %q", ws.Subprotocol(), c.Subprotocol(), tc.want)
			}
			if _, err := c.Write([]byte(":srv 001 alice :Welcome\r\n:srv 002 alice :Your host\r\n")); err != nil {
				t.Fatal(err)
			}
			expectMessage(t, ws, tc.typ, ":srv 001 alice :Welcome")
			expectMessage(t, ws, tc.typ, ":srv 002 alice :Your host")

			r := bufio.NewReader(c)
			for _, typ := range []int{websocket.TextMessage, websocket.BinaryMessage} {
				if err := ws.WriteMessage(typ, []byte("PRIVMSG #chat :héllo")); err != nil {
					t.Fatal(err)
				}
				if got := readLine(t, r); got != "PRIVMSG #chat :héllo\r\n" {
					t.Fatalf("server read %q", got)
				}
			}
		})
	}
}

// A line split over several writes is sent once complete; line breaks the client should not
// send are tolerated: trailing ones are dropped, inner ones separate lines as on TCP.
func TestLineBoundaries(t *testing.T) {
	l, url := startListener(t, Config{})
	ws, c := connect(t, l, url, TextProtocol)
	for _, part := range []string{"PING :a\r\nPI", "NG :b", "\r\n", "\n"} {
		if n, err := c.Write([]byte(part)); err != nil || n != len(part) {
			t.Fatalf("Write(%q) = %d, %v", part, n, err)
		}
	}
	if _, err := c.Write([]byte("PING :c\n")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PING :a", "PING :b", "PING :c"} {
		expectMessage(t, ws, websocket.TextMessage, want)
	}

	r := bufio.NewReader(c)
	for _, msg := range []string{"NICK a\r\n", "NICK b\n", "NICK c\r\nNICK d", ""} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"NICK a", "NICK b", "NICK c", "NICK d", ""} {
		if got := readLine(t, r); got != want+"\r\n" {
			t.Fatalf("server read %q, want %q", got, want+"\r\n")
		}
	}
}

// Text messages carry UTF-8 only (RFC 6455, IRCv3): a client's invalid text message closes the
// connection with 1007; binary messages pass any bytes to the IRC server (which refuses
// non-UTF-8 lines itself); the server's own text messages replace invalid bytes with U+FFFD.
func TestUTF8(t *testing.T) {
	l, url := startListener(t, Config{})

	ws, c := connect(t, l, url, TextProtocol)
	if _, err := c.Write([]byte("NOTICE * :caf\xe9\r\n")); err != nil {
		t.Fatal(err)
	}
	expectMessage(t, ws, websocket.TextMessage, "NOTICE * :caf\uFFFD")
	if err := ws.WriteMessage(websocket.BinaryMessage, []byte("PRIVMSG #chat :caf\xe9")); err != nil {
		t.Fatal(err)
	}
	if got := readLine(t, bufio.NewReader(c)); got != "PRIVMSG #chat :caf\xe9\r\n" {
		t.Fatalf("binary message read as %q", got)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("PRIVMSG #chat :caf\xe9")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(c); !errors.Is(err, ErrInvalidUTF8) {
		t.Fatalf("read after invalid text: %v, want ErrInvalidUTF8", err)
	}
	expectClose(t, ws, websocket.CloseInvalidFramePayloadData)

	ws, c = connect(t, l, url, BinaryProtocol)
	if _, err := c.Write([]byte("NOTICE * :caf\xe9\r\n")); err != nil {
		t.Fatal(err)
	}
	expectMessage(t, ws, websocket.BinaryMessage, "NOTICE * :caf\xe9")
}

// A message up to the IRC line limit (with tags) is read whole; a longer one closes the
// connection with 1009, telling the client why.
func TestMessageLimit(t *testing.T) {
	l, url := startListener(t, Config{})
	ws, c := connect(t, l, url, TextProtocol)
	long := "@" + strings.Repeat("a", DefaultMaxMessage-len("@ PING :x")) + " PING :x"
	if err := ws.WriteMessage(websocket.TextMessage, []byte(long)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReaderSize(c, 2*DefaultMaxMessage)
	if got := readLine(t, r); got != long+"\r\n" {
		t.Fatalf("read %d bytes, want %d", len(got), len(long)+2)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte(long+"x")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadString('\n'); !errors.Is(err, ErrMessageTooLong) {
		t.Fatalf("read of an over-long message: %v, want ErrMessageTooLong", err)
	}
	expectClose(t, ws, websocket.CloseMessageTooBig)
}

// Control frames: a client's ping is answered, its close ends the server's stream like EOF on
// TCP, and the server's Close sends a normal close frame.
func TestPingAndClose(t *testing.T) {
	l, url := startListener(t, Config{})
	ws, c := connect(t, l, url, TextProtocol)
	serverRead := make(chan error, 1) // the server reads all the time, as the IRC server does
	go func() {
		_, err := io.ReadAll(c)
		serverRead <- err
	}()
	pong := make(chan string, 1)
	ws.SetPongHandler(func(data string) error { pong <- data; return nil })
	if err := ws.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	go func() { _, _, _ = ws.ReadMessage() }() // control frames are handled while reading
	select {
	case data := <-pong:
		if data != "hi" {
			t.Fatalf("pong %q", data)
		}
	case <-time.After(testTimeout):
		t.Fatal("no pong")
	}
	if err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"), time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-serverRead:
		if err != nil { // io.ReadAll reports io.EOF as nil
			t.Fatalf("server read after the client's close: %v, want io.EOF", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("server read did not end after the client's close")
	}

	ws, c = connect(t, l, url, TextProtocol)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	expectClose(t, ws, websocket.CloseNormalClosure)
}

// A write deadline set while the writer runs (as the IRC server does when it closes a client)
// ends a write that blocks because the client reads nothing.
func TestWriteDeadline(t *testing.T) {
	l, url := startListener(t, Config{})
	_, c := connect(t, l, url, TextProtocol)
	wrote, done := make(chan struct{}), make(chan error, 1)
	go func() {
		line := []byte("PRIVMSG alice :" + strings.Repeat("x", 400) + "\r\n")
		for i := 0; ; i++ {
			if _, err := c.Write(line); err != nil {
				done <- err
				return
			}
			if i == 0 {
				close(wrote)
			}
		}
	}()
	<-wrote
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	select {
	case err := <-done:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("blocked write ended with %v, want a timeout", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("blocked write did not end at its deadline")
	}
}

// Browser origins: only the allow-list, or with none, pages of the same host; clients that are
// not browsers (no Origin) are always let in. A refused origin gets 403.
func TestOrigins(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allowed []string
		origin  string
		want    int
	}{
		{"no origin header", nil, "", http.StatusSwitchingProtocols},
		{"same host by default", nil, "http://HOST", http.StatusSwitchingProtocols},
		{"other host by default", nil, "http://evil.example", http.StatusForbidden},
		{"same host, other port", nil, "http://127.0.0.1:1", http.StatusForbidden},
		{"listed", []string{"https://chat.example.com/"}, "https://Chat.Example.com", http.StatusSwitchingProtocols},
		{"listed, other scheme", []string{"https://chat.example.com"}, "http://chat.example.com", http.StatusForbidden},
		{"not listed", []string{"https://chat.example.com"}, "https://evil.example", http.StatusForbidden},
		{"list excludes same host", []string{"https://chat.example.com"}, "http://HOST", http.StatusForbidden},
		{"wildcard", []string{"*"}, "https://evil.example", http.StatusSwitchingProtocols},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, url := startListener(t, Config{Origins: tc.allowed})
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", strings.Replace(tc.origin, "HOST", l.Addr().String(), 1))
			}
			_, resp, err := dial(t, url, []string{TextProtocol}, h)
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d (%v)", resp.StatusCode, tc.want, err)
			}
			if tc.want == http.StatusSwitchingProtocols {
				accept(t, l)
			}
		})
	}
}

// The client's address is the peer's, or for a trusted proxy the rightmost forwarded address
// that is not itself a trusted proxy.
func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, tc := range []struct {
		name string
		peer string
		xff  []string
		want string
	}{
		{"direct", "192.0.2.1:4000", nil, "192.0.2.1:4000"},
		{"untrusted peer's header ignored", "192.0.2.1:4000", []string{"198.51.100.7"}, "192.0.2.1:4000"},
		{"trusted proxy", "10.1.2.3:4000", []string{"198.51.100.7"}, "198.51.100.7:0"},
		{"trusted proxy over IPv6", "[::1]:4000", []string{"2001:db8::7"}, "[2001:db8::7]:0"},
		{"forged left entries skipped", "10.1.2.3:4000", []string{"6.6.6.6, 198.51.100.7, 10.9.9.9"}, "198.51.100.7:0"},
		{"several headers", "10.1.2.3:4000", []string{"6.6.6.6", "198.51.100.7"}, "198.51.100.7:0"},
		{"entry with port", "10.1.2.3:4000", []string{"198.51.100.7:5555"}, "198.51.100.7:0"},
		{"all trusted", "10.1.2.3:4000", []string{"10.4.4.4, 10.5.5.5"}, "10.4.4.4:0"},
		{"garbage stops at the last trusted hop", "10.1.2.3:4000", []string{"198.51.100.7, unknown, 10.5.5.5"}, "10.5.5.5:0"},
		{"no header", "10.1.2.3:4000", nil, "10.1.2.3:4000"},
		{"mapped IPv4 peer", "[::ffff:10.1.2.3]:4000", []string{"198.51.100.7"}, "198.51.100.7:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.peer, Header: http.Header{}}
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientAddr(r, trusted).String(); got != tc.want {
				t.Fatalf("clientAddr = %s, want %s", got, tc.want)
			}
		})
	}
}

// The connection's RemoteAddr, which the IRC server uses for per-address limits and login
// throttling, honours X-Forwarded-For only from a trusted proxy.
func TestRemoteAddrFromTrustedProxy(t *testing.T) {
	xff := http.Header{"X-Forwarded-For": {"198.51.100.7"}}
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		want    string
	}{
		{"trusted", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "198.51.100.7"},
		{"not trusted", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "127.0.0.1"},
		{"none trusted", nil, "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, url := startListener(t, Config{TrustedProxies: tc.trusted})
			if _, _, err := dial(t, url, nil, xff); err != nil {
				t.Fatal(err)
			}
			c := accept(t, l)
			addr, ok := c.RemoteAddr().(*net.TCPAddr)
			if !ok || addr.IP.String() != tc.want {
				t.Fatalf("RemoteAddr = %v, want %s", c.RemoteAddr(), tc.want)
			}
		})
	}
}

// wss:// with the configured certificate; a request that is not an upgrade gets 400 with a
// hint, and HTTP/2 is not offered (upgrades need HTTP/1.1).
func TestTLSAndPlainHTTP(t *testing.T) {
	pair := testcert.Write(t, t.TempDir(), "ws")
	cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	l, url := startListener(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if !l.TLS() {
		t.Fatal("TLS() = false")
	}
	d := websocket.Dialer{Subprotocols: []string{BinaryProtocol}, TLSClientConfig: &tls.Config{RootCAs: pair.Pool}}
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	c := accept(t, l)
	if _, err := c.Write([]byte("PING :x\r\n")); err != nil {
		t.Fatal(err)
	}
	expectMessage(t, ws, websocket.BinaryMessage, "PING :x")

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pair.Pool}, ForceAttemptHTTP2: true}}
	resp, err := hc.Get(strings.Replace(url, "wss:", "https:", 1))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.ProtoMajor != 1 || !strings.Contains(string(body), TextProtocol) {
		t.Fatalf("plain GET: %s %d %q", resp.Proto, resp.StatusCode, body)
	}
}

// Connections still in their handshake are bounded: over the limit they are closed at once,
// and an upgraded connection no longer counts.
func TestHandshakeLimit(t *testing.T) {
	l, url := startListener(t, Config{MaxHandshakes: 1})
	idle, err := net.Dial("tcp", l.Addr().String()) // says nothing: holds the one handshake slot
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, _, err := dial(t, url, nil, nil); err == nil {
		t.Fatal("second handshake accepted while the first is pending")
	}
	_ = idle.Close()
	// The server notices the close on its next read; there is no event to wait for.
	for deadline := time.Now().Add(testTimeout); l.pending.Load() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d handshakes still counted after the clients closed", l.pending.Load())
		}
	}
	connect(t, l, url, TextProtocol) // the slot is free again
	connect(t, l, url, TextProtocol) // and upgraded connections do not hold it
}

// Close stops the listener: Accept returns net.ErrClosed and new handshakes fail.
func TestListenerClose(t *testing.T) {
	l, url := startListener(t, Config{})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if _, _, err := dial(t, url, nil, nil); err == nil {
		t.Fatal("dial after Close succeeded")
	}
}

// A read that times out may be tried again, as on TCP: the IRC server reads with short
// deadlines while it drains connections at shutdown, and must still get the lines that come.
func TestReadDeadlineIsResumable(t *testing.T) {
	l, url := startListener(t, Config{})
	ws, c := connect(t, l, url, TextProtocol)
	buf := make([]byte, 64)
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v", err)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("PRIVMSG #chat :late")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "PRIVMSG #chat :late\r\n" {
		t.Fatalf("Read after a timeout = %q, %v", buf[:n], err)
	}
	// A deadline moved into the past wakes a waiting Read.
	done := make(chan error, 1)
	_ = c.SetReadDeadline(time.Time{})
	go func() { _, err := c.Read(buf); done <- err }()
	_ = c.SetReadDeadline(time.Now())
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("waiting Read after SetReadDeadline(now): %v", err)
	}
}
