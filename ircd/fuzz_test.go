package ircd

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ergochat/irc-go/ircmsg"
)

// FuzzLine sends arbitrary input on a registered, joined connection, then a PING. The server must
// not crash, every line it sends must be well-formed, and unless the input quit, the connection
// must still answer the PING.
func FuzzLine(f *testing.F) {
	for _, seed := range []string{
		"PRIVMSG #chat :hello",
		"@+typing=active TAGMSG #chat",
		"PRIVMSG #chat :\x01ACTION waves\x01",
		"NICK other\r\nWHO #chat %tcuhnfar,1",
		"CAP REQ :server-time batch\r\nCAP LIST",
		"PRIVMSG #chat :a\x00b",
		"PRIVMSG #chat :\xff",
		"MODE #chat +o x\r\nTOPIC #chat :t",
		"JOIN #a,#b,#chat,#d\r\nPART #chat",
		"@" + string(bytes.Repeat([]byte("a"), 9000)) + " PING x",
		"@+a=" + string(bytes.Repeat([]byte("t"), 5000)) + ";+b=x PRIVMSG #chat,#CHAT,fuzz :x",
		"USER \xff 0 * :\xfe\r\nNICK \xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		e := newTestEnv(t, nil)
		tc := e.dial()
		tc.register("fuzz", "CAP REQ :message-tags standard-replies", "CAP END")
		tc.joinChannel()
		go func() {
			_ = tc.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, _ = tc.conn.Write(append(input, "\r\nPING :fuzz-end\r\n"...))
		}()
		for {
			msg, err := tc.tryRead(5 * time.Second)
			if err != nil {
				if !errors.Is(err, io.EOF) && !bytes.Contains(bytes.ToUpper(input), []byte("QUIT")) {
					t.Fatalf("connection lost: %v", err)
				}
				return
			}
			checkServerMessage(t, msg)
			if msg.Command == "PONG" && lastParam(msg) == "fuzz-end" {
				return
			}
		}
	})
}

func checkServerMessage(t *testing.T, msg ircmsg.Message) {
	t.Helper()
	line, err := msg.LineBytesStrict(false, 0)
	if err != nil {
		t.Fatalf("server sent a message that does not serialise: %v %q", err, msg.Params)
	}
	body := line
	if i := bytes.IndexByte(line, ' '); line[0] == '@' && i > 0 {
		body = line[i+1:]
	}
	if len(body) > maxLineLen {
		t.Errorf("line body of %d bytes", len(body))
	}
	if !utf8.Valid(line) {
		t.Errorf("server sent invalid UTF-8: %q", line)
	}
}
