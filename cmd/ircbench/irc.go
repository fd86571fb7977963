package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircreader"
)

const channel = "#chat"

// ircClient is a full IRC client for the few connections that send or need parsed replies
// (latency sender and receiver, throughput senders). Every line is parsed with ircmsg and
// handed to onLine on the reader goroutine.
type ircClient struct {
	name   string
	conn   net.Conn
	wmu    sync.Mutex
	nick   atomic.Pointer[string]
	onLine func(msg *ircmsg.Message, at time.Time)

	registered chan struct{} // closed on 001
	joined     chan struct{} // closed on 366 for the channel
	done       chan struct{} // closed when the connection ends
	errMu      sync.Mutex
	errText    string // ERROR line or refusal, for the harness message
}

// dialIRC connects, registers (pass "" for a guest) and joins the channel, waiting for the
// end of NAMES.
func dialIRC(ctx context.Context, addr, name, pass, nick string, onLine func(*ircmsg.Message, time.Time)) (*ircClient, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("irc %s: %w", name, err)
	}
	c := &ircClient{name: name, conn: conn, onLine: onLine,
		registered: make(chan struct{}), joined: make(chan struct{}), done: make(chan struct{})}
	go c.readLoop()
	var reg strings.Builder
	if pass != "" {
		reg.WriteString("PASS " + pass + "\r\n")
	}
	fmt.Fprintf(&reg, "NICK %s\r\nUSER %s 0 * :ircbench\r\nJOIN %s\r\n", nick, nick, channel)
	if err := c.writeString(reg.String()); err != nil {
		c.Close()
		return nil, fmt.Errorf("irc %s: %w", name, err)
	}
	t := time.NewTimer(60 * time.Second)
	defer t.Stop()
	select {
	case <-c.joined:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("irc %s: connection closed before joining %s: %s", name, channel, c.errorText())
	case <-t.C:
		c.Close()
		return nil, fmt.Errorf("irc %s: not joined to %s within 60 s", name, channel)
	case <-ctx.Done():
		c.Close()
		return nil, ctx.Err()
	}
}

func (c *ircClient) Nick() string {
	if p := c.nick.Load(); p != nil {
		return *p
	}
	return ""
}

func (c *ircClient) errorText() string {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.errText == "" {
		return "no ERROR line"
	}
	return c.errText
}

func (c *ircClient) setError(s string) {
	c.errMu.Lock()
	if c.errText == "" {
		c.errText = s
	}
	c.errMu.Unlock()
}

func (c *ircClient) writeString(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.conn.Write([]byte(s))
	return err
}

func (c *ircClient) readLoop() {
	defer close(c.done)
	var r ircreader.Reader
	r.Initialize(c.conn, 4096, 64<<10)
	var regOnce, joinOnce sync.Once
	for {
		line, err := r.ReadLine()
		at := time.Now()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				c.setError("read: " + err.Error())
			}
			return
		}
		msg, err := ircmsg.ParseLine(string(line))
		if err != nil {
			continue
		}
		switch msg.Command {
		case "PING":
			_ = c.writeString("PONG :" + strings.Join(msg.Params, " ") + "\r\n")
			continue
		case "001":
			if len(msg.Params) > 0 {
				n := msg.Params[0]
				c.nick.Store(&n)
			}
			regOnce.Do(func() { close(c.registered) })
		case "366":
			joinOnce.Do(func() { close(c.joined) })
		case "ERROR":
			c.setError("ERROR " + strings.Join(msg.Params, " "))
		case "464", "465", "474", "403", "451", "433", "432", "904":
			c.setError(msg.Command + " " + strings.Join(msg.Params, " "))
		}
		if c.onLine != nil {
			c.onLine(&msg, at)
		}
	}
}

func (c *ircClient) Close() {
	c.wmu.Lock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.conn.Write([]byte("QUIT :ircbench done\r\n"))
	c.wmu.Unlock()
	_ = c.conn.Close()
	<-c.done
}

// receiver is a fan-out client with minimal parsing: it reads lines with ircreader, answers
// PING, and looks only at the command word of each line; only PRIVMSG lines carrying the
// fan-out marker are parsed further. ircbench runs thousands of these on the two cores it
// shares with the daemon, so nothing here allocates per line.
type receiver struct {
	idx  int
	conn net.Conn

	joined chan struct{}
	done   chan struct{}
	err    atomic.Pointer[string]

	lastSeq  int64 // reader-owned: highest fan-out sequence number seen
	dup, ooo atomic.Int64
}

var (
	markerFanout = []byte(" PRIVMSG " + channel + " :fo ")
	cmdPing      = []byte("PING")
	cmdPrivmsg   = []byte("PRIVMSG")
	cmdEndNames  = []byte("366")
	cmdError     = []byte("ERROR")
)

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

func (rc *receiver) readLoop(rec *recorder) {
	defer close(rc.done)
	var r ircreader.Reader
	r.Initialize(rc.conn, 2048, 16<<10)
	joined := false
	for {
		line, err := r.ReadLine()
		if err != nil {
			s := "read: " + err.Error()
			rc.err.CompareAndSwap(nil, &s)
			return
		}
		cmd, rest := command(line)
		switch {
		case bytes.Equal(cmd, cmdPrivmsg):
			i := bytes.Index(line, markerFanout)
			if i < 0 {
				continue
			}
			at := time.Now()
			seq, ok := parseUint(line[i+len(markerFanout):])
			if ok {
				rc.got(rec, seq, at)
			}
		case bytes.Equal(cmd, cmdPing):
			reply := append([]byte("PONG"), rest...)
			reply = append(reply, '\r', '\n')
			_ = rc.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			_, _ = rc.conn.Write(reply)
		case !joined && bytes.Equal(cmd, cmdEndNames):
			joined = true
			close(rc.joined)
		case bytes.Equal(cmd, cmdError):
			s := string(line)
			rc.err.CompareAndSwap(nil, &s)
		}
	}
}

func (rc *receiver) got(rec *recorder, seq int64, at time.Time) {
	if seq <= rc.lastSeq {
		if seq == rc.lastSeq {
			rc.dup.Add(1)
		} else {
			rc.ooo.Add(1)
		}
	} else {
		rc.lastSeq = seq
	}
	rec.record(rc.idx, seq, at)
}

func parseUint(b []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int64(b[i]-'0')
	}
	return n, i > 0
}

// dialReceiver connects a guest, registers and joins with one write, without waiting.
func dialReceiver(ctx context.Context, addr string, idx int, rec *recorder) (*receiver, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	rc := &receiver{idx: idx, conn: conn, joined: make(chan struct{}), done: make(chan struct{})}
	nick := fmt.Sprintf("r%05d", idx)
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "NICK %s\r\nUSER %s 0 * :ircbench\r\nJOIN %s\r\n", nick, nick, channel); err != nil {
		conn.Close()
		return nil, err
	}
	go rc.readLoop(rec)
	return rc, nil
}

func (rc *receiver) alive() bool {
	select {
	case <-rc.done:
		return false
	default:
		return true
	}
}

func (rc *receiver) Close() {
	_ = rc.conn.Close()
	<-rc.done
}
