package main

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/ergochat/irc-go/ircmsg"
)

// receiverPoll runs the fan-out guests: raw non-blocking sockets read by one epoll loop on
// one locked OS thread, each read stamped once, the way an efficient load generator reads
// many connections. ircbench shares two cores with the daemon and Directus: a goroutine per
// connection (internal/irctest's model) cost about a quarter more CPU per message at
// N=5,000 and stamped a receipt only when its goroutine got to run, which biases exactly the
// first→last spread that the fan-out targets compare.
//
// The loop owns the receivers; other goroutines read only the atomic counters.
type receiverPoll struct {
	epfd    int
	slots   []atomic.Pointer[receiver] // by index, which is also the epoll data
	n       int                        // receivers dialled (dial's goroutine only)
	step    atomic.Pointer[fanStep]
	joined  atomic.Int64 // receivers that saw the end of NAMES
	dead    atomic.Int64 // receivers whose connection ended
	dup     atomic.Int64 // a fan-out message received twice by one receiver
	ooo     atomic.Int64 // … received after a later one
	outside atomic.Int64 // receipts of messages outside the current step
	lastErr atomic.Pointer[string]
	stop    atomic.Bool
	done    chan struct{}
}

// receiver is one guest; only the loop touches it after it is added.
type receiver struct {
	idx, fd  int
	part     []byte
	lastSeq  int64
	joined   bool
	finished bool
}

var markerFanout = []byte(" PRIVMSG " + channel + " :fo ")

func newReceiverPoll(size int) (*receiverPoll, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	p := &receiverPoll{epfd: epfd, slots: make([]atomic.Pointer[receiver], size), done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// dial connects the next guest (blocking connect, loopback), sends its registration and
// JOIN, and hands the socket to the loop without waiting for the welcome.
func (p *receiverPoll) dial(addr string) error {
	if p.n == len(p.slots) {
		return fmt.Errorf("receiver poll is full (%d)", p.n)
	}
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return err
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	sa := &syscall.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	idx := p.n
	// As net.Dialer does (the previous receivers' sockets came from it).
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	if err = syscall.Connect(fd, sa); err == nil {
		err = writeAll(fd, registration("", fmt.Sprintf("r%05d", idx)))
	}
	if err == nil {
		err = syscall.SetNonblock(fd, true)
	}
	if err != nil {
		syscall.Close(fd)
		return err
	}
	p.slots[idx].Store(&receiver{idx: idx, fd: fd})
	p.n++
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(idx)}
	return syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// loop is the only reader of the sockets; level-triggered, so what one read leaves is
// reported again.
func (p *receiverPoll) loop() {
	defer close(p.done)
	runtime.LockOSThread()
	events := make([]syscall.EpollEvent, 512)
	buf := make([]byte, 256<<10)
	for !p.stop.Load() {
		n, err := syscall.EpollWait(p.epfd, events, 100)
		if err != nil && err != syscall.EINTR {
			p.fail(fmt.Sprintf("epoll_wait: %v", err))
			return
		}
		at := time.Now()
		for _, ev := range events[:max(n, 0)] {
			if rc := p.slots[ev.Fd].Load(); rc != nil && !rc.finished {
				p.read(rc, buf, at)
			}
		}
	}
}

// read handles what one socket has, every complete line stamped with at.
func (p *receiverPoll) read(rc *receiver, buf []byte, at time.Time) {
	// read(2) without the runtime's system-call bookkeeping: the socket never blocks, and the
	// runtime's monitor thread backs off (9% of ircbench's CPU at N=5,000 with syscall.Read).
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(rc.fd), uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)))
	switch {
	case errno == syscall.EAGAIN || errno == syscall.EINTR:
		return
	case errno != 0 || n == 0:
		p.finish(rc, fmt.Sprintf("read: %v", errno))
		return
	}
	data := buf[:n]
	if len(rc.part) > 0 {
		data = append(rc.part, data...)
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		p.line(rc, bytes.TrimSuffix(data[:i], []byte{'\r'}), at)
		data = data[i+1:]
	}
	rc.part = append(rc.part[:0], data...)
}

func (p *receiverPoll) line(rc *receiver, line []byte, at time.Time) {
	switch {
	case bytes.HasPrefix(line, []byte("PING")):
		ping, _ := ircmsg.ParseLine(string(line))
		if err := writeAll(rc.fd, lines(cmd("PONG", ping.Params...))); err != nil {
			p.finish(rc, "write PONG: "+err.Error())
		}
	case bytes.Contains(line, markerFanout):
		_, rest, _ := bytes.Cut(line, markerFanout)
		seq, _ := parseUint(rest)
		switch {
		case seq == rc.lastSeq:
			p.dup.Add(1)
		case seq < rc.lastSeq:
			p.ooo.Add(1)
		default:
			rc.lastSeq = seq
		}
		if st := p.step.Load(); st == nil || !st.record(rc.idx, seq, at) {
			p.outside.Add(1)
		}
	case !rc.joined && bytes.Contains(line, []byte(" 366 ")):
		rc.joined = true
		p.joined.Add(1)
	case bytes.HasPrefix(line, []byte("ERROR")):
		p.finish(rc, string(line))
	}
}

// finish takes a receiver out of the loop; Close closes its socket.
func (p *receiverPoll) finish(rc *receiver, why string) {
	if !rc.finished {
		rc.finished = true
		p.lastErr.Store(&why)
		p.dead.Add(1)
		_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, rc.fd, nil)
	}
}

func (p *receiverPoll) fail(why string) {
	for i := range p.slots {
		if rc := p.slots[i].Load(); rc != nil {
			p.finish(rc, why)
		}
	}
}

// live is the number of receivers still connected.
func (p *receiverPoll) live() int { return p.n - int(p.dead.Load()) }

// Close stops the loop and closes every socket, 500 a second: each guest's QUIT goes to
// every member, and closing 5,000 at once queued thousands of QUIT lines to each logged-in
// client in a second, more than a SendQ holds when the machine is busy.
func (p *receiverPoll) Close() {
	p.stop.Store(true)
	<-p.done
	for i := range p.n {
		_ = syscall.Close(p.slots[i].Load().fd)
		if i%50 == 49 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	_ = syscall.Close(p.epfd)
}

func parseUint(b []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int64(b[i]-'0')
	}
	return n, i > 0
}
