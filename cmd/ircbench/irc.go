package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircreader"
)

// ircClient is a full IRC client for the few connections that send (latency, throughput).
// internal/irctest is built for tests (it fails a testing.TB); this one hands every line,
// stamped with its arrival, to a channel that the phase reads, and answers PING itself.
type ircClient struct {
	conn  net.Conn
	wmu   sync.Mutex
	lines chan line
	done  chan struct{}
	err   string // why it ended (set before done closes)
}

type line struct {
	msg ircmsg.Message
	at  time.Time
}

// dialIRC connects, registers (pass "" for a guest) and joins the channel, waiting for the
// end of NAMES.
func dialIRC(ctx context.Context, addr, nick, pass string) (*ircClient, error) {
	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("irc %s: %w", nick, err)
	}
	c := &ircClient{conn: conn, lines: make(chan line, 4096), done: make(chan struct{})}
	go c.read()
	_ = c.write(registration(pass, nick))
	if _, err := c.await(ctx, 60*time.Second, func(m ircmsg.Message) bool { return m.Command == "366" }); err != nil {
		c.Close()
		return nil, fmt.Errorf("irc %s: joining %s: %w", nick, channel, err)
	}
	return c, nil
}

// registration is PASS (unless pass is ""), NICK, USER and JOIN of the channel.
func registration(pass, nick string) []byte {
	var msgs []ircmsg.Message
	if pass != "" {
		msgs = append(msgs, cmd("PASS", pass))
	}
	return lines(append(msgs, cmd("NICK", nick), cmd("USER", nick, "0", "*", "ircbench"), cmd("JOIN", channel))...)
}

// cmd is a command from a client (no tags, no source).
func cmd(command string, params ...string) ircmsg.Message {
	return ircmsg.MakeMessage(nil, "", command, params...)
}

// lines serialises msgs with irc-go, each ending in CR LF. A message irc-go cannot
// serialise (a bench bug) panics rather than go out malformed.
func lines(msgs ...ircmsg.Message) []byte {
	var out []byte
	for _, m := range msgs {
		b, err := m.LineBytes()
		if err != nil {
			panic(fmt.Sprintf("ircbench: %s: %v", m.Command, err))
		}
		out = append(out, b...)
	}
	return out
}

// send writes msgs in one write.
func (c *ircClient) send(msgs ...ircmsg.Message) error { return c.write(lines(msgs...)) }

func (c *ircClient) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.conn.Write(b)
	return err
}

// read parses lines onto c.lines; lines nobody reads are dropped when it is full.
func (c *ircClient) read() {
	var r ircreader.Reader
	r.Initialize(c.conn, 4096, 64<<10)
	for {
		raw, err := r.ReadLine()
		at := time.Now()
		if err != nil {
			if c.err == "" { // an ERROR line says more than the EOF after it
				c.err = err.Error()
			}
			close(c.done)
			return
		}
		msg, err := ircmsg.ParseLine(string(raw))
		switch {
		case err != nil:
			continue
		case msg.Command == "PING":
			_ = c.send(cmd("PONG", msg.Params...))
			continue
		case msg.Command == "ERROR" || msg.Command == "464" || msg.Command == "465":
			c.err = msg.Command + " " + strings.Join(msg.Params, " ")
		}
		select {
		case c.lines <- line{msg, at}:
		default:
		}
	}
}

// await waits for the first line that match accepts, dropping those before it.
func (c *ircClient) await(ctx context.Context, timeout time.Duration, match func(ircmsg.Message) bool) (time.Time, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case l := <-c.lines:
			if match(l.msg) {
				return l.at, nil
			}
		case <-c.done:
			return time.Time{}, fmt.Errorf("irc: connection closed: %s", c.err)
		case <-t.C:
			return time.Time{}, errTimeout
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

func (c *ircClient) Close() {
	_ = c.send(cmd("QUIT", "ircbench done"))
	_ = c.conn.Close()
	<-c.done
}
