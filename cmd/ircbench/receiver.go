package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// receiverPoll runs the fan-out clients: thousands of guests whose sockets are read by one
// epoll loop on one OS thread, the way an efficient load generator (or a bouncer) reads many
// connections. ircbench shares the machine's two cores with the daemon and Directus, so the
// receivers must cost as little as possible: a goroutine per connection adds a netpoll
// wake-up and a goroutine switch per line (about a quarter more CPU per message at N=5,000,
// 56 against 43-48 ms), and a receipt was timestamped only when its goroutine got to run.
//
// The loop owns each receiver's partial line and sequence state; other goroutines only read
// the atomic counters and the joined and done channels.
type receiverPoll struct {
	epfd  int
	rec   *recorder
	slots []atomic.Pointer[receiver] // by receiver index, which is also the epoll data
	stop  atomic.Bool
	done  chan struct{}
	err   atomic.Pointer[string] // why the loop ended early
}

// receiver is one fan-out guest.
type receiver struct {
	idx  int
	fd   int
	poll *receiverPoll

	joined chan struct{}
	done   chan struct{}
	err    atomic.Pointer[string]

	// Owned by the poll loop.
	part       []byte // an incomplete line from the last read
	lastSeq    int64  // highest fan-out sequence number seen
	joinedSeen bool
	finished   bool // taken out of epoll; the descriptor stays open until Close

	dup, ooo  atomic.Int64
	closeOnce sync.Once
}

var (
	markerFanout = []byte(" PRIVMSG " + channel + " :fo ")
	cmdPing      = []byte("PING")
	cmdPrivmsg   = []byte("PRIVMSG")
	cmdEndNames  = []byte("366")
	cmdError     = []byte("ERROR")
)

// maxPartialLine bounds a line the receivers buffer; the daemon's lines are far shorter.
const maxPartialLine = 64 << 10

func newReceiverPoll(size int, rec *recorder) (*receiverPoll, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	p := &receiverPoll{epfd: epfd, rec: rec, slots: make([]atomic.Pointer[receiver], size), done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// Close stops the loop once every receiver is closed and releases the epoll descriptor.
func (p *receiverPoll) Close() {
	p.stop.Store(true)
	<-p.done
	_ = syscall.Close(p.epfd)
}

// dial connects guest idx, registers and joins with one write, without waiting. The
// connection is made by net.Dialer (timeouts, retries on EINTR); its descriptor is then
// duplicated and handed to the poll loop, and Go's own poller lets go of the original.
func (p *receiverPoll) dial(ctx context.Context, addr string, idx int) (*receiver, error) {
	if idx < 0 || idx >= len(p.slots) {
		return nil, fmt.Errorf("receiver index %d outside 0..%d", idx, len(p.slots)-1)
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	fd, err := dupFD(conn)
	conn.Close()
	if err != nil {
		return nil, err
	}
	rc := &receiver{idx: idx, fd: fd, poll: p, joined: make(chan struct{}), done: make(chan struct{})}
	nick := fmt.Sprintf("r%05d", idx)
	reg, err := registration("", nick)
	if err == nil {
		err = writeAll(fd, reg)
	}
	if err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("register: %w", err)
	}
	p.slots[idx].Store(rc)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(idx)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.slots[idx].Store(nil)
		syscall.Close(fd)
		return nil, fmt.Errorf("epoll_ctl add: %w", err)
	}
	return rc, nil
}

// dupFD returns a non-blocking duplicate of conn's socket descriptor.
func dupFD(conn net.Conn) (int, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1, errors.New("not a socket connection")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, dupErr := -1, error(nil)
	if err := raw.Control(func(orig uintptr) {
		fd, dupErr = syscall.Dup(int(orig))
	}); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, fmt.Errorf("dup: %w", dupErr)
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// writeAll writes b to a non-blocking socket; a short registration or PONG fits the empty
// send buffer, so EAGAIN here means the connection is stuck and is an error.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// loop is the only reader of the receivers' sockets, on a locked OS thread so that a burst
// of receipts is read without goroutine switches.
func (p *receiverPoll) loop() {
	defer close(p.done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	events := make([]syscall.EpollEvent, 512)
	buf := make([]byte, 256<<10)
	for !p.stop.Load() {
		n, err := syscall.EpollWait(p.epfd, events, 100)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			s := "epoll_wait: " + err.Error()
			p.err.Store(&s)
			p.finishAll(s)
			return
		}
		at := time.Now()
		for _, ev := range events[:n] {
			if rc := p.slots[ev.Fd].Load(); rc != nil && !rc.finished {
				rc.readOnce(buf, at)
			}
		}
	}
	p.finishAll("ircbench stopped")
}

// finishAll ends every receiver still open (the loop is stopping).
func (p *receiverPoll) finishAll(why string) {
	for i := range p.slots {
		if rc := p.slots[i].Load(); rc != nil && !rc.finished {
			rc.finish(why)
		}
	}
}

// readOnce reads what one socket has (epoll is level-triggered: anything left is reported
// again) and handles its complete lines, all timestamped at the read.
func (rc *receiver) readOnce(buf []byte, at time.Time) {
	n, err := rawRead(rc.fd, buf)
	switch {
	case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR):
		return
	case err != nil:
		rc.finish("read: " + err.Error())
		return
	case n == 0:
		rc.finish("read: EOF")
		return
	}
	data := buf[:n]
	if len(rc.part) > 0 {
		rc.part = append(rc.part, data...)
		data = rc.part
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		rc.handleLine(bytes.TrimSuffix(data[:i], []byte{'\r'}), at)
		data = data[i+1:]
		if rc.finished {
			return
		}
	}
	switch {
	case len(data) == 0:
		rc.part = rc.part[:0]
	case len(data) > maxPartialLine:
		rc.finish(fmt.Sprintf("line longer than %d bytes", maxPartialLine))
	default:
		rc.part = append(make([]byte, 0, len(data)), data...)
	}
}

// rawRead is read(2) without the runtime's system-call bookkeeping. The socket is
// non-blocking, so the call never parks the thread; and the runtime's monitor, which polls
// every 20 µs while a thread keeps entering system calls that it may have to take over, can
// back off (it was 9% of ircbench's CPU during the N=5,000 rounds with syscall.Read).
func rawRead(fd int, buf []byte) (int, error) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// handleLine looks only at the command word of a line; only PRIVMSG lines carrying the
// fan-out marker are parsed further.
func (rc *receiver) handleLine(line []byte, at time.Time) {
	cmd, rest := command(line)
	switch {
	case bytes.Equal(cmd, cmdPrivmsg):
		i := bytes.Index(line, markerFanout)
		if i < 0 {
			return
		}
		if seq, ok := parseUint(line[i+len(markerFanout):]); ok {
			rc.got(seq, at)
		}
	case bytes.Equal(cmd, cmdPing):
		reply := append(append([]byte("PONG"), rest...), '\r', '\n')
		if err := writeAll(rc.fd, reply); err != nil {
			rc.finish("write PONG: " + err.Error())
		}
	case !rc.joinedSeen && bytes.Equal(cmd, cmdEndNames):
		rc.joinedSeen = true
		close(rc.joined)
	case bytes.Equal(cmd, cmdError):
		s := string(line)
		rc.err.CompareAndSwap(nil, &s)
	}
}

func (rc *receiver) got(seq int64, at time.Time) {
	if seq <= rc.lastSeq {
		if seq == rc.lastSeq {
			rc.dup.Add(1)
		} else {
			rc.ooo.Add(1)
		}
	} else {
		rc.lastSeq = seq
	}
	rc.poll.rec.record(rc.idx, seq, at)
}

// finish takes the socket out of the loop and reports the receiver done (poll loop only).
// Only Close closes the descriptor, so that it is never reused while Close may still use it.
func (rc *receiver) finish(why string) {
	if rc.finished {
		return
	}
	rc.finished = true
	rc.err.CompareAndSwap(nil, &why)
	_ = syscall.EpollCtl(rc.poll.epfd, syscall.EPOLL_CTL_DEL, rc.fd, nil)
	close(rc.done)
}

// command returns the command word of an IRC line (after optional tags and :source) and
// what follows it.
func command(line []byte) (cmd, rest []byte) {
	if len(line) > 0 && line[0] == '@' {
		i := bytes.IndexByte(line, ' ')
		if i < 0 {
			return nil, nil
		}
		line = line[i+1:]
	}
	if len(line) > 0 && line[0] == ':' {
		i := bytes.IndexByte(line, ' ')
		if i < 0 {
			return nil, nil
		}
		line = line[i+1:]
	}
	if i := bytes.IndexByte(line, ' '); i >= 0 {
		return line[:i], line[i:]
	}
	return line, nil
}

func parseUint(b []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int64(b[i]-'0')
	}
	return n, i > 0
}

func (rc *receiver) alive() bool {
	select {
	case <-rc.done:
		return false
	default:
		return true
	}
}

// Close shuts the connection down, waits until the poll loop has let go of it, and closes
// the descriptor.
func (rc *receiver) Close() {
	rc.closeOnce.Do(func() {
		_ = syscall.Shutdown(rc.fd, syscall.SHUT_RDWR)
		select {
		case <-rc.done:
		case <-rc.poll.done:
		}
		_ = syscall.Close(rc.fd)
	})
}
