package ircd

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircreader"
	"github.com/ergochat/irc-go/ircutils"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// closeGrace bounds the time spent flushing the last lines (ERROR) to a closing connection.
const closeGrace = 3 * time.Second

// drainQuietWindow is how long a client must send nothing before Drain counts it as quiet:
// lines it sent before the stop have arrived by then (loopback or LAN; a slower link's
// lines still in flight are handled if they come before Shutdown closes the connection).
const drainQuietWindow = 250 * time.Millisecond

// closeReadWindow is how long a reader waits for more input once Shutdown closes connections.
const closeReadWindow = 20 * time.Millisecond

// readerInitialSize is the read buffer a connection starts with; it grows only for long lines.
const readerInitialSize = 512

// Client is one IRC connection. Its methods are safe for use from any goroutine.
type Client struct {
	s       *Server
	id      uint64
	conn    net.Conn
	addr    netip.Addr
	log     zerolog.Logger // set once; the connection's id and address
	ctx     context.Context
	cancel  context.CancelFunc
	created time.Time

	capBits      atomic.Uint32
	registered   atomic.Bool
	identity     atomic.Pointer[Identity]
	login        atomic.Pointer[Identity] // from SASL, before registration completes
	inBackend    atomic.Bool              // a login is with the backend: no registration timeout
	lastActive   atomic.Int64             // unix nanoseconds of the last line read
	pingSent     atomic.Int64             // unix nanoseconds of an unanswered server PING, 0 if none
	draining     atomic.Bool              // Drain: read what the client already sent, without flood delays
	drainPending atomic.Bool              // Drain waits for this connection to go quiet

	// Outgoing queue, guarded by qmu. One writer goroutine drains it.
	qmu       sync.Mutex
	qcond     sync.Cond
	queue     [][]byte
	qbytes    int         // bytes in queue
	closing   bool        // no more lines are accepted; the writer closes after the queue
	holding   bool        // deliveries from others are held while a JOIN completes
	held      []heldLines // deliveries held while holding
	heldBytes int
	// replayedLast is the msgid of the last message of this connection's JOIN replay: its
	// fan-out may still be under way when the JOIN ends (fan-outs run one at a time, so no
	// other can be), and its live copy is then left out.
	replayedLast string
	quitReason   string

	rb responseBuffer // the running command's replies

	// Owned by the reader goroutine.
	reader  ircreader.Reader
	reg     regState
	limiter *rate.Limiter
	lag     time.Duration // fakelag accumulated in the current run of over-budget lines
	ml      *multiline    // an open draft/multiline batch

	// Guarded by s.mu.
	u         *user     // the nick this connection shares, nil before registration
	joinState joinState // channel membership of this connection
	memberIdx int       // index in s.members while joinState != notJoined
	released  bool      // detached from its nick (QUIT); c.u stays for what still reads it
}

// heldLines is a delivery held back while a JOIN completes.
type heldLines struct {
	id    string // msgid, to drop it if the history replay already has it
	lines [][]byte
}

func newClient(s *Server, ctx context.Context, conn net.Conn, cfg *Config) *Client {
	c := &Client{
		s:       s,
		id:      s.nextID.Add(1),
		conn:    conn,
		addr:    remoteAddr(conn),
		created: time.Now(),
	}
	c.ctx, c.cancel = context.WithCancel(ctx)
	c.qcond.L = &c.qmu
	c.log = s.log.With().Uint64("conn", c.id).Str("addr", c.addr.String()).Logger()
	c.lastActive.Store(c.created.UnixNano())
	c.reader.Initialize(drainReader{c}, readerInitialSize, maxLineLen+maxTagsLen)
	if cfg.FloodRate > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(cfg.FloodRate), cfg.FloodBurst)
	}
	return c
}

func remoteAddr(conn net.Conn) netip.Addr {
	switch a := conn.RemoteAddr().(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	case nil:
		return netip.Addr{}
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}
		}
		return ap.Addr().Unmap()
	}
}

// ID is the connection's number, unique for the server's lifetime.
func (c *Client) ID() uint64 { return c.id }

// Addr is the client's IP address (invalid for a connection without one, such as net.Pipe).
func (c *Client) Addr() netip.Addr { return c.addr }

// Identity is who the backend said this connection is; nil before registration completes.
// The caller must not modify it.
func (c *Client) Identity() *Identity { return c.identity.Load() }

// Session is the backend's state of this connection's login (Identity.Session of the
// registration, or of the SASL login before registration completes); nil without one.
func (c *Client) Session() any {
	if id := c.identity.Load(); id != nil {
		return id.Session
	}
	if id := c.login.Load(); id != nil {
		return id.Session
	}
	return nil
}

// Account is the connection's account name, "" for a guest or before registration.
func (c *Client) Account() string {
	if id := c.identity.Load(); id != nil {
		return id.Account
	}
	return ""
}

// Nick is the connection's current nick, "*" before registration.
func (c *Client) Nick() string { return c.userString(func(u *user) string { return u.nick }) }

// prefix is the client's nick!user@host, "*" before registration.
func (c *Client) prefix() string { return c.userString((*user).prefix) }

// userString reads one thing of the connection's user under the server lock.
func (c *Client) userString(get func(*user) string) string {
	c.s.mu.RLock()
	defer c.s.mu.RUnlock()
	if c.u == nil {
		return "*"
	}
	return get(c.u)
}

func (c *Client) caps() capSet { return capSet(c.capBits.Load()) }

func (c *Client) hasCap(bit capSet) bool { return c.caps().has(bit) }

func (c *Client) addCaps(bits capSet) { c.setCaps(bits, 0) }

func (c *Client) setCaps(add, del capSet) {
	for {
		old := c.capBits.Load()
		if c.capBits.CompareAndSwap(old, (old|uint32(add))&^uint32(del)) {
			return
		}
	}
}

func (c *Client) isRegistered() bool { return c.registered.Load() }

// Notice sends a server NOTICE to this client at once, from any goroutine (a backend telling
// a waiting client something); it is not one of a command's labeled replies.
func (c *Client) Notice(text string) { c.noticeVia(c.deliverMsg, text) }

// Fail reports a refusal at once, from any goroutine: a standard-replies FAIL when the
// client negotiated it, else a NOTICE. Handlers use fail, which replies to the command.
func (c *Client) Fail(command, code, text string) { c.failVia(c.deliverMsg, command, code, text) }

// fail is Fail as one of the running command's replies (reader goroutine).
func (c *Client) fail(command, code, text string) { c.failVia(c.send, command, code, text) }

func (c *Client) noticeVia(send func(ircmsg.Message), text string) {
	cfg := c.s.cfg()
	for _, part := range splitText(text, lineBudget(cfg.ServerName, "NOTICE", c.Nick(), false), "") {
		send(ircmsg.MakeMessage(nil, cfg.ServerName, "NOTICE", c.Nick(), part))
	}
}

func (c *Client) failVia(send func(ircmsg.Message), command, code, text string) {
	if c.hasCap(capStandardReplies) {
		send(ircmsg.MakeMessage(nil, c.s.cfg().ServerName, "FAIL", command, code, ircutils.SanitizeText(text, maxLineLen)))
		return
	}
	c.noticeVia(send, text)
}

// Disconnect sends ERROR :reason and closes the connection once what is queued is written.
func (c *Client) Disconnect(reason string) {
	c.closeWith(reason, false)
}

// closeWith marks the connection closing with ERROR :reason as its last line. With drop, what
// is still queued is discarded (the client is not reading it anyway).
func (c *Client) closeWith(reason string, drop bool) {
	line := serialize(ircmsg.MakeMessage(nil, "", "ERROR", ircutils.SanitizeText(reason, maxLineLen)), c.log)
	replies := c.takeReplies() // the running command's replies (a refusal) go before the ERROR
	c.qmu.Lock()
	if c.closing {
		c.qmu.Unlock()
		return
	}
	c.closing = true
	c.quitReason = reason
	if drop {
		clear(c.queue)
		c.queue, c.qbytes = c.queue[:0], 0
	} else {
		c.queue = append(c.queue, replies...)
	}
	if line != nil {
		c.queue = append(c.queue, line)
	}
	c.held, c.heldBytes = nil, 0
	_ = c.conn.SetWriteDeadline(time.Now().Add(closeGrace))
	c.qcond.Broadcast()
	c.qmu.Unlock()
	c.cancel()
	c.log.Debug().Str("reason", reason).Msg("disconnecting")
}

func (c *Client) isClosing() bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.closing
}

// enqueue adds lines to the outgoing queue without blocking. A client whose queue is already
// full (lines or bytes) when a delivery comes is dropped with "SendQ exceeded"; a delivery
// that finds room is taken whole even if it runs over, so the size of one message is never
// the reason (the queue exceeds its bound by at most one delivery). hold routes the lines
// through the JOIN hold (deliveries from others). It may be called with s.mu held.
func (c *Client) enqueue(lines [][]byte, id string, hold bool) {
	size := linesSize(lines)
	c.qmu.Lock()
	if c.closing {
		c.qmu.Unlock()
		return
	}
	cfg := c.s.cfg()
	if hold && c.holding {
		if len(c.held) < cfg.SendQueueLen && c.heldBytes < cfg.SendQueueBytes {
			c.held = append(c.held, heldLines{id: id, lines: lines})
			c.heldBytes += size
			c.qmu.Unlock()
			return
		}
	} else if hold && id != "" && id == c.replayedLast {
		c.replayedLast = "" // the replay had it
		c.qmu.Unlock()
		return
	} else if len(c.queue) < cfg.SendQueueLen && c.qbytes < cfg.SendQueueBytes {
		c.queue = append(c.queue, lines...)
		c.qbytes += size
		c.qmu.Unlock()
		// Woken after the unlock, so that the writer, which may run at once on the other
		// core, does not find qmu still held by the delivering goroutine.
		c.qcond.Broadcast()
		return
	}
	c.qmu.Unlock()
	c.s.metrics.sendQDrop()
	c.closeWith("SendQ exceeded", true)
}

func linesSize(lines [][]byte) int {
	n := 0
	for _, l := range lines {
		n += len(l)
	}
	return n
}

// replyLines is the client's own replies from its reader goroutine: collected in the response
// buffer while a command runs, else queued at once. Never call it with s.mu held.
func (c *Client) replyLines(lines ...[]byte) {
	if !c.buffered(lines) {
		c.queueReplies(lines...)
	}
}

// queueReplies queues replies from the reader goroutine. It waits while the queue is more
// than half full (lines or bytes), so a command with a long answer (NAMES, history) is paced
// by the client's reading while deliveries from others keep the other half. Never call it
// with s.mu held.
func (c *Client) queueReplies(lines ...[]byte) {
	cfg := c.s.cfg()
	c.qmu.Lock()
	defer c.qmu.Unlock()
	for _, line := range lines {
		for !c.closing && len(c.queue) > 0 && (len(c.queue) >= max(cfg.SendQueueLen/2, 1) || c.qbytes >= cfg.SendQueueBytes/2) {
			c.qcond.Wait()
		}
		if c.closing {
			return
		}
		c.queue = append(c.queue, line)
		c.qbytes += len(line)
		c.qcond.Broadcast()
	}
}

// idleQueueCap is the most queue capacity (lines) a connection keeps after a burst: the
// writer swaps two queues, so an idle connection holds two such backing arrays.
const idleQueueCap = 8

// writeBufSize bounds a coalesced write; it holds any line (tags included) whole.
const writeBufSize = 16 << 10

var writeBufPool = sync.Pool{New: func() any { b := make([]byte, 0, writeBufSize); return &b }}

// writeLines writes a batch of lines: one line as it is, several copied into a pooled buffer
// and written with as few writes as it takes. Not writev: the runtime caches an iovec array
// per connection sized to its largest batch, which an idle connection would carry for life
// (about 1.5 KiB after the welcome burst), and a TLS connection would get a record per line.
func writeLines(w io.Writer, batch [][]byte) error {
	if len(batch) == 1 {
		_, err := w.Write(batch[0])
		return err
	}
	bp := writeBufPool.Get().(*[]byte)
	defer writeBufPool.Put(bp)
	buf := (*bp)[:0]
	for _, line := range batch {
		if len(buf) > 0 && len(buf)+len(line) > writeBufSize {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		buf = append(buf, line...)
	}
	_, err := w.Write(buf)
	return err
}

// writeLoop is the connection's writer goroutine.
func (c *Client) writeLoop() {
	defer c.s.wg.Done()
	var batch [][]byte
	var deadline time.Time
	for {
		c.qmu.Lock()
		for len(c.queue) == 0 && !c.closing {
			c.qcond.Wait()
		}
		if len(c.queue) == 0 {
			c.qmu.Unlock()
			break
		}
		batch, c.queue, c.qbytes = c.queue, batch[:0], 0
		if now, timeout := time.Now(), c.s.cfg().WriteTimeout; !c.closing && deadline.Sub(now) < timeout/2 {
			// Refreshed when half used up, not per write: this write has at least half of
			// WriteTimeout, and a fan-out to many clients doesn't reset as many timers.
			deadline = now.Add(timeout)
			_ = c.conn.SetWriteDeadline(deadline)
		}
		c.qcond.Broadcast() // room for replyLines
		c.qmu.Unlock()

		err := writeLines(c.conn, batch)
		clear(batch)
		if cap(batch) > idleQueueCap {
			batch = nil // don't keep a burst's buffer on an idle connection
		}
		if err != nil {
			c.log.Debug().Err(err).Msg("write failed")
			c.closeWith("Write error", true)
			break
		}
	}
	c.qmu.Lock()
	c.closing = true
	c.queue = nil
	c.qcond.Broadcast()
	c.qmu.Unlock()
	_ = c.conn.Close()
}

// readLoop is the connection's reader goroutine: it reads and runs commands in order.
func (c *Client) readLoop() {
	skipping := false  // discarding the tail of a line longer than the read buffer
	finalRead := false // Shutdown is closing connections: one more read, then close
	for !c.isClosing() {
		line, err := c.reader.ReadLine()
		if errors.Is(err, ircreader.ErrReadQ) {
			// The reader cannot continue after ErrReadQ: start a new one, drop the rest.
			c.reader.Initialize(drainReader{c}, readerInitialSize, maxLineLen+maxTagsLen)
			if !skipping {
				c.numeric(errInputTooLong, "Input line too long")
			}
			skipping = true
			continue
		}
		if err != nil {
			if c.draining.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
				if c.s.closing() {
					if !finalRead { // Shutdown's wake-up: read what has arrived first
						finalRead = true
						continue
					}
					c.closeWith("server shutting down", false) // replies to what was read go first
					break
				}
				c.markQuiet() // and go on reading: a late line is still answered
				continue
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.log.Debug().Err(err).Msg("read failed")
			}
			c.closeWith("Connection closed", true)
			break
		}
		c.lastActive.Store(time.Now().UnixNano())
		c.pingSent.Store(0)
		if skipping {
			skipping = false
			continue
		}
		if !c.throttle(line) {
			break
		}
		c.handleLine(line)
	}
}

// drainReader is what the line reader reads from. While the server drains, each read waits
// at most drainQuietWindow, so a client that has gone quiet is noticed; once the server
// closes connections, at most closeReadWindow, so what has arrived is still read and
// answered before the ERROR.
type drainReader struct{ c *Client }

func (r drainReader) Read(p []byte) (int, error) {
	c := r.c
	if c.draining.Load() {
		window := drainQuietWindow
		if c.s.closing() {
			window = closeReadWindow // what the kernel already holds is still read
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(window))
	}
	return c.conn.Read(p)
}

// markQuiet tells Drain that this connection has nothing more to read (once).
func (c *Client) markQuiet() {
	if c.drainPending.CompareAndSwap(true, false) {
		c.s.quiet.Done()
	}
}

// throttle applies flood control to one line: fakelag while the client is over its budget,
// "Excess Flood" once the lag of one run of over-budget lines exceeds FloodMaxLag. While the
// server drains there is no delay: the lines a client sent before the stop must be read
// before connections close.
func (c *Client) throttle(line []byte) bool {
	if c.limiter == nil || isPong(line) || c.draining.Load() {
		return true
	}
	now := time.Now()
	delay := c.limiter.ReserveN(now, 1).DelayFrom(now)
	if delay <= 0 {
		c.lag = 0
		return true
	}
	c.lag += delay
	if c.lag > c.s.cfg().FloodMaxLag {
		c.closeWith("Excess Flood", true)
		return false
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.s.drainStart:
		return true
	case <-c.ctx.Done():
		return false
	}
}

func isPong(line []byte) bool {
	return len(line) >= 4 && (string(line[:4]) == "PONG" || string(line[:4]) == "pong")
}

// serialize turns msg into a line, truncated to the line limit. It never produces CR, LF or NUL
// inside a line: such a message is dropped (and logged).
func serialize(msg ircmsg.Message, log zerolog.Logger) []byte {
	line, err := msg.LineBytesStrict(false, maxLineLen)
	if err != nil && !errors.Is(err, ircmsg.ErrorBodyTooLong) {
		log.Error().Err(err).Str("command", msg.Command).Msg("dropping unserialisable message")
		return nil
	}
	return line
}
