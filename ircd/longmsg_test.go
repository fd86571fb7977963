package ircd

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

// manyLines is a text of n numbered lines.
func manyLines(n int) string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = "line " + strconv.Itoa(i+1)
	}
	return strings.Join(lines, "\n")
}

// collect reads n PRIVMSGs to #chat (skipping other lines) in the background, so that the
// server's writer is never blocked on a test that is still delivering.
func collect(tc *testConn, n int) <-chan []ircmsg.Message {
	out := make(chan []ircmsg.Message, 1)
	go func() {
		var got []ircmsg.Message
		for len(got) < n {
			msg, err := tc.tryRead(10 * time.Second)
			if err != nil {
				break
			}
			if msg.Command == "PRIVMSG" && msg.Params[0] == "#chat" {
				got = append(got, msg)
			}
		}
		out <- got
	}()
	return out
}

func TestLongMessagesAreCutNotDropped(t *testing.T) {
	long := strings.Repeat("word ", 20000) // 100 KB on one line
	cases := []struct {
		name    string
		text    string
		count   int // messages in a row
		omitted int // lines left out of each
		first   string
	}{
		{"1,100 lines", manyLines(1100), 1, 1100 - 19, "line 1"},
		{"100 KB line", long, 1, len(splitText(long, lineBudget("Carol!carol@users.test", "PRIVMSG", "#chat", false), "")) - 19, "word word"},
		{"50 long items in a row", manyLines(1100), 50, 1100 - 19, "line 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, func(c *Config) { c.SendQueueLen = 0 }) // the default queue
			alice, bob := twoUsers(t, e, "message-tags", "server-time")
			want := tc.count * 20
			got := []<-chan []ircmsg.Message{collect(alice, want), collect(bob, want)}
			for i := range tc.count {
				e.srv.Broadcast(Message{ID: "x" + strconv.Itoa(i), Nick: "Carol", Text: tc.text}, nil)
			}
			for i, ch := range got {
				msgs := <-ch
				if len(msgs) != want {
					t.Fatalf("client %d got %d lines, want %d", i, len(msgs), want)
				}
				for j := range tc.count {
					one := msgs[j*20 : (j+1)*20]
					if !strings.HasPrefix(lastParam(one[0]), tc.first) {
						t.Errorf("first line %q", lastParam(one[0]))
					}
					note := fmt.Sprintf("[%d more lines not shown; read the whole message on the web page]", tc.omitted)
					if lastParam(one[19]) != note {
						t.Errorf("last line %q, want %q", lastParam(one[19]), note)
					}
				}
			}
			for _, c := range []*testConn{alice, bob} {
				if extra := c.sync(); len(extra) != 0 {
					t.Errorf("more after the cut messages: %v", cmdNames(extra))
				}
			}
		})
	}
}

func TestOneDeliveryLargerThanTheQueueDoesNotDrop(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.SendQueueLen, c.SendQueueBytes = 4, 1000 })
	_, bob := twoUsers(t, e)
	ch := collect(bob, 10)
	e.srv.Broadcast(Message{Nick: "Alice", Text: manyLines(10)}, nil)
	if msgs := <-ch; len(msgs) != 10 {
		t.Fatalf("bob got %d of 10 lines", len(msgs))
	}
	bob.sync() // still connected
}

func TestCutRuleFromConfig(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.MaxLines, c.FullTextAt = 3, "in the archive" })
	_, bob := twoUsers(t, e)
	e.srv.Broadcast(Message{Nick: "Alice", Text: manyLines(5)}, nil)
	msgs := bob.sync()
	if got := []string{lastParam(msgs[0]), lastParam(msgs[1]), lastParam(msgs[2])}; len(msgs) != 3 ||
		got[2] != "[3 more lines not shown; read the whole message in the archive]" {
		t.Errorf("cut = %q", got)
	}
	e.srv.Broadcast(Message{Nick: "Alice", Text: manyLines(3)}, nil)
	if msgs := bob.sync(); len(msgs) != 3 || lastParam(msgs[2]) != "line 3" {
		t.Errorf("a message of max_lines lines was cut: %v", msgs)
	}
}

func TestHistoryReplayIsCut(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.SendQueueLen = 16 })
	e.srv.SeedHistory([]Message{
		{ID: "h1", Nick: "Carol", Text: manyLines(1100)},
		{ID: "h2", Nick: "Carol", Text: "short"},
	})
	alice := e.dial()
	alice.register("a", "PASS alice:wonderland")
	alice.writeAsync("JOIN #chat\r\nPING done\r\n") // the replay is paced by this client's reading
	_, msgs := alice.waitFor("PONG")
	var privmsgs []string
	for _, m := range msgs {
		if m.Command == "PRIVMSG" {
			privmsgs = append(privmsgs, lastParam(m))
		}
	}
	if len(privmsgs) != 21 || privmsgs[19] != "[1081 more lines not shown; read the whole message on the web page]" || privmsgs[20] != "short" {
		t.Errorf("replay: %d lines, ending %q", len(privmsgs), privmsgs[max(len(privmsgs)-2, 0):])
	}
}
