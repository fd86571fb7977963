package wsirc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// The subprotocols of the IRCv3 WebSocket specification.
const (
	TextProtocol   = "text.ircv3.net"
	BinaryProtocol = "binary.ircv3.net"
)

// DefaultMaxMessage is the largest message accepted: an IRC line with message-tags (8191
// bytes of tags plus 512 of line) without its CR LF, which the specification leaves out.
const DefaultMaxMessage = 8191 + 512 - 2

// closeTimeout bounds the close frame sent when a connection ends.
const closeTimeout = time.Second

// Errors of a connection closed for what its peer sent; the peer was told in the close frame.
var (
	ErrMessageTooLong = errors.New("websocket: IRC message too long")
	ErrInvalidUTF8    = errors.New("websocket: text message is not valid UTF-8")
)

// Conn is an IRC connection over a WebSocket: each message is one IRC line. Read returns the
// messages as lines ending in CR LF; Write takes lines ending in LF (or CR LF) and sends each
// as one message without them. Text messages (text.ircv3.net, or no subprotocol) carry UTF-8;
// binary messages (binary.ircv3.net) any bytes.
//
// As for a net.Conn, one goroutine may Read while another Writes; deadlines and Close are
// safe from any goroutine.
type Conn struct {
	ws     *websocket.Conn
	remote net.Addr
	binary bool // outgoing messages are binary
	limit  int

	// Read side, owned by the reading goroutine.
	rbuf []byte // the current message and its CR LF
	rpos int
	rerr error // the error that ended the stream

	// A pump goroutine reads the WebSocket without deadlines and hands each message over, so
	// that a read deadline is resumable as on a TCP connection (a gorilla/websocket read that
	// times out leaves the connection unusable), which the IRC server relies on when it
	// drains connections at shutdown.
	pumpOnce  sync.Once
	inbox     chan inbound
	rdeadline atomic.Int64  // read deadline, unix nanoseconds; 0 for none
	rdChanged chan struct{} // wakes a waiting Read when the deadline changes
	closed    chan struct{}

	wmu      sync.Mutex
	partial  []byte       // written bytes after the last LF, guarded by wmu
	deadline atomic.Int64 // write deadline, unix nanoseconds; 0 for none

	closeOnce sync.Once
	closeErr  error
}

// NewConn turns an established WebSocket (server or client side) into a line connection.
// Outgoing messages are binary when binary.ircv3.net was negotiated, else text. remote is
// what RemoteAddr returns (nil: the socket's peer); maxMessage bounds an incoming message
// (0: DefaultMaxMessage).
func NewConn(ws *websocket.Conn, remote net.Addr, maxMessage int) *Conn {
	if remote == nil {
		remote = ws.RemoteAddr()
	}
	if maxMessage <= 0 {
		maxMessage = DefaultMaxMessage
	}
	return &Conn{ws: ws, remote: remote, binary: ws.Subprotocol() == BinaryProtocol, limit: maxMessage,
		inbox: make(chan inbound), rdChanged: make(chan struct{}, 1), closed: make(chan struct{})}
}

// inbound is one message handed over by the pump (a line with its CR LF), or the error that
// ended the stream.
type inbound struct {
	line []byte
	err  error
}

// Subprotocol is the negotiated subprotocol, "" for none.
func (c *Conn) Subprotocol() string { return c.ws.Subprotocol() }

// Read reads the next bytes of the line stream. A message too long or, in a text message,
// invalid UTF-8 closes the WebSocket (1009, 1007) and ends the stream with ErrMessageTooLong
// or ErrInvalidUTF8; a close from the peer ends it with io.EOF.
func (c *Conn) Read(p []byte) (int, error) {
	for c.rpos >= len(c.rbuf) {
		if c.rerr != nil {
			return 0, c.rerr
		}
		c.pumpOnce.Do(func() { go c.pump() })
		in, err := c.await()
		if err != nil {
			return 0, err // a deadline: the next Read goes on
		}
		if in.err != nil {
			c.rerr = in.err
			return 0, in.err
		}
		c.rbuf, c.rpos = in.line, 0
	}
	n := copy(p, c.rbuf[c.rpos:])
	c.rpos += n
	if c.rpos == len(c.rbuf) {
		c.rbuf, c.rpos = nil, 0
	}
	return n, nil
}

// await waits for the pump's next message until the read deadline.
func (c *Conn) await() (inbound, error) {
	for {
		var expired <-chan time.Time
		if ns := c.rdeadline.Load(); ns != 0 {
			wait := time.Until(time.Unix(0, ns))
			if wait <= 0 {
				select {
				case in := <-c.inbox:
					return in, nil
				default:
					return inbound{}, os.ErrDeadlineExceeded
				}
			}
			t := time.NewTimer(wait)
			expired = t.C
			defer t.Stop()
		}
		select {
		case in := <-c.inbox:
			return in, nil
		case <-expired:
		case <-c.rdChanged:
		case <-c.closed:
			return inbound{err: net.ErrClosed}, nil
		}
	}
}

// pump reads messages and hands them to Read, until the stream ends or the conn is closed.
func (c *Conn) pump() {
	for {
		line, err := c.nextMessage()
		select {
		case c.inbox <- inbound{line, err}:
		case <-c.closed:
			return
		}
		if err != nil {
			return
		}
	}
}

// nextMessage reads one message as a line. Line breaks at its end are dropped (the
// specification forbids them; some older clients send them); line breaks inside it
// separate lines, as on a TCP connection.
func (c *Conn) nextMessage() ([]byte, error) {
	typ, r, err := c.ws.NextReader()
	if err != nil {
		return nil, readError(err)
	}
	buf, err := readLimited(r, nil, c.limit)
	switch {
	case errors.Is(err, ErrMessageTooLong):
		c.fail(websocket.CloseMessageTooBig, fmt.Sprintf("IRC line longer than %d bytes", c.limit))
		return nil, err
	case err != nil:
		return nil, readError(err)
	case typ == websocket.TextMessage && !utf8.Valid(buf):
		// RFC 6455 section 8.1: invalid UTF-8 in a text message fails the connection.
		c.fail(websocket.CloseInvalidFramePayloadData, "invalid UTF-8 in a text message")
		return nil, ErrInvalidUTF8
	}
	return append(bytes.TrimRight(buf, "\r\n"), '\r', '\n'), nil
}

// readLimited appends all of r to buf, or fails with ErrMessageTooLong past limit bytes.
func readLimited(r io.Reader, buf []byte, limit int) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), limit+1)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return buf, ErrMessageTooLong
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// readError maps the end of the peer's stream to io.EOF, as a TCP connection reports it.
func readError(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) || errors.Is(err, io.ErrUnexpectedEOF) {
		return io.EOF
	}
	return err
}

// fail closes the connection for a protocol error, telling the peer why.
func (c *Conn) fail(code int, reason string) {
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(closeTimeout))
}

// Write sends every complete line of p as one message; a partial line waits for the rest.
// Text messages never carry invalid UTF-8: such bytes become U+FFFD, as the specification
// allows (the IRC server sends UTF-8 only, so this is a safeguard).
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(c.writeDeadline())
	data := p
	if len(c.partial) > 0 {
		data = append(c.partial, p...)
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		if err := c.writeLine(bytes.TrimRight(data[:i], "\r")); err != nil {
			c.partial = nil
			return 0, err
		}
		data = data[i+1:]
	}
	if len(data) > c.limit {
		c.partial = nil
		return 0, ErrMessageTooLong
	}
	c.partial = append(c.partial[:0:0], data...)
	return len(p), nil
}

func (c *Conn) writeLine(line []byte) error {
	if len(line) == 0 {
		return nil // an empty message would be an empty IRC line: nothing to send
	}
	if c.binary {
		return c.ws.WriteMessage(websocket.BinaryMessage, line)
	}
	if !utf8.Valid(line) {
		line = bytes.ToValidUTF8(line, []byte("\uFFFD"))
	}
	return c.ws.WriteMessage(websocket.TextMessage, line)
}

func (c *Conn) writeDeadline() time.Time {
	if ns := c.deadline.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Close sends a normal close frame (bounded by a short timeout) and closes the socket.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.fail(websocket.CloseNormalClosure, "")
		c.closeErr = c.ws.Close()
	})
	return c.closeErr
}

// LocalAddr is the listening side's address.
func (c *Conn) LocalAddr() net.Addr { return c.ws.LocalAddr() }

// RemoteAddr is the client's address: the socket's peer, or the address a trusted proxy
// forwarded.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// Transport names the connection's transport for the IRC server's metrics
// (directus_ircd_clients{transport="websocket"}), ws:// and wss:// alike.
func (c *Conn) Transport() string { return "websocket" }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}

// SetReadDeadline sets the deadline of reads, including one waiting now. As on a TCP
// connection, a read that timed out may be tried again.
func (c *Conn) SetReadDeadline(t time.Time) error {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	c.rdeadline.Store(ns)
	select {
	case c.rdChanged <- struct{}{}:
	default:
	}
	return nil
}

// SetWriteDeadline sets the deadline of writes, including one in progress.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	c.deadline.Store(ns)
	// The WebSocket applies its own deadline at each write; setting the socket's too bounds a
	// write that is blocked now (a close flushing its last lines).
	return c.ws.NetConn().SetWriteDeadline(t)
}
