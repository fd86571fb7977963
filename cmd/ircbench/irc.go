package main

import (
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
	reg, err := registration(pass, nick)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("irc %s: %w", name, err)
	}
	if err := c.writeString(string(reg)); err != nil {
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

// registration is PASS (unless pass is ""), NICK, USER and JOIN of the channel, as lines.
func registration(pass, nick string) ([]byte, error) {
	var msgs []ircmsg.Message
	if pass != "" {
		msgs = append(msgs, ircmsg.MakeMessage(nil, "", "PASS", pass))
	}
	msgs = append(msgs, ircmsg.MakeMessage(nil, "", "NICK", nick),
		ircmsg.MakeMessage(nil, "", "USER", nick, "0", "*", "ircbench"),
		ircmsg.MakeMessage(nil, "", "JOIN", channel))
	var out []byte
	for _, m := range msgs {
		line, err := m.LineBytesStrict(false, 512)
		if err != nil {
			return nil, fmt.Errorf("%s line: %w", m.Command, err)
		}
		out = append(out, line...)
	}
	return out, nil
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
