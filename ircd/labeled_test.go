package ircd

import (
	"strings"
	"testing"

	"github.com/ergochat/irc-go/ircmsg"
)

func tag(m ircmsg.Message, name string) string {
	_, v := m.GetTag(name)
	return v
}

// labeledReply reads the reply to a labeled command: a single labeled line, an ACK, or a
// labeled-response batch (its lines returned, the BATCH lines left out).
func (tc *testConn) labeledReply(label string) (lines []ircmsg.Message, batched bool) {
	tc.t.Helper()
	for {
		m := tc.read()
		if tag(m, "label") == "" {
			continue // not the reply (a delivery from others)
		}
		if tag(m, "label") != label {
			tc.t.Fatalf("reply labeled %q, want %q: %s %q", tag(m, "label"), label, m.Command, m.Params)
		}
		if m.Command != "BATCH" {
			return []ircmsg.Message{m}, false
		}
		if len(m.Params) < 2 || m.Params[1] != "labeled-response" || m.Params[0][0] != '+' {
			tc.t.Fatalf("labeled BATCH %q", m.Params)
		}
		ref := m.Params[0][1:]
		for {
			m := tc.read()
			if m.Command == "BATCH" && m.Params[0] == "-"+ref {
				return lines, true
			}
			if tag(m, "batch") != ref && !(m.Command == "BATCH" || tag(m, "batch") != "") {
				tc.t.Fatalf("in the labeled batch, a line without its batch tag: %s %q", m.Command, m.Params)
			}
			lines = append(lines, m)
		}
	}
}

// labeled-response: each command's replies carry its label — one line tagged, several in a
// labeled-response batch, none as ACK.
func TestLabeledResponse(t *testing.T) {
	labeledCaps := []string{"labeled-response", "batch", "message-tags"}
	tests := []struct {
		name     string
		echo     bool   // alice has echo-message
		joined   bool   // alice is on the channel first
		line     string // sent with @label=L
		want     string // the command of the single reply, or of the batch's first line
		batch    bool
		wantLast string // with batch: the command of the batch's last line
	}{
		{"PRIVMSG with echo-message: the echo", true, true, "PRIVMSG #chat :hello", "PRIVMSG", false, ""},
		{"PRIVMSG without echo-message: ACK", false, true, "PRIVMSG #chat :hello", "ACK", false, ""},
		{"TAGMSG with echo-message: the echo", true, true, "@+typing=active TAGMSG #chat", "TAGMSG", false, ""},
		{"PING: the PONG", false, false, "PING :x", "PONG", false, ""},
		{"no reply: ACK", false, true, "PONG :x", "ACK", false, ""},
		{"JOIN: a batch", false, false, "JOIN #chat", "JOIN", true, "366"},
		{"WHO: a batch", false, true, "WHO #chat", "352", true, "315"},
		{"CHATHISTORY refused: the FAIL", false, true, "CHATHISTORY LATEST #chat * 10", "FAIL", false, ""},
		{"an error: the numeric", false, true, "PART #other", "403", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, nil)
			caps := labeledCaps
			if tt.echo {
				caps = append(caps, "echo-message")
			}
			alice := e.dial()
			alice.registerSASL("a", "alice", "wonderland", caps...)
			bob := e.dial()
			bob.register("b", "PASS bob:builder")
			bob.joinChannel()
			if tt.joined {
				alice.joinChannel()
			}
			line := "@label=L1 " + tt.line
			if rest, ok := strings.CutPrefix(tt.line, "@"); ok { // the line has tags of its own
				line = "@label=L1;" + rest
			}
			alice.send(line)
			lines, batched := alice.labeledReply("L1")
			if batched != tt.batch || lines[0].Command != tt.want {
				t.Fatalf("reply %v (batch %v), want %s (batch %v)", cmdNames(lines), batched, tt.want, tt.batch)
			}
			if tt.batch && lines[len(lines)-1].Command != tt.wantLast {
				t.Fatalf("batch %v, want it to end with %s", cmdNames(lines), tt.wantLast)
			}
			if rest := alice.sync(); len(rest) > 0 {
				t.Fatalf("after the labeled reply: %v", cmdNames(rest))
			}
		})
	}
}

// A label is applied only for a client that negotiated labeled-response; without batch, a
// reply of several lines goes unlabeled (and a single one labeled).
func TestLabelNeedsTheCapability(t *testing.T) {
	e := newTestEnv(t, nil)
	plain := e.dial()
	plain.registerSASL("a", "alice", "wonderland", "message-tags")
	plain.send("@label=x PING :p")
	if m := plain.expect("PONG"); tag(m, "label") != "" {
		t.Fatalf("label without labeled-response: %v", m)
	}
	plain.send("@label=x PONG :p")
	if got := plain.sync(); len(got) != 0 {
		t.Fatalf("reply to PONG without labeled-response: %v", cmdNames(got))
	}

	nobatch := e.dial()
	nobatch.registerSASL("b", "bob", "builder", "labeled-response", "message-tags")
	nobatch.send("@label=y JOIN #chat")
	_, before := nobatch.waitFor("366")
	for _, m := range before {
		if tag(m, "label") != "" || tag(m, "batch") != "" {
			t.Fatalf("several lines without batch: %s labeled", m.Command)
		}
	}
	nobatch.send("@label=z PING :p")
	if m := nobatch.expect("PONG"); tag(m, "label") != "z" {
		t.Fatalf("single reply without batch: PONG %v", m.AllTags())
	}
}

// A multiline batch is one command: the label of its BATCH + line labels the reply to the
// whole batch (the echo, or ACK), sent when the batch closes.
func TestLabeledMultilineBatch(t *testing.T) {
	for _, echo := range []bool{true, false} {
		e := newTestEnv(t, nil)
		caps := []string{"labeled-response", "batch", "message-tags", "draft/multiline"}
		if echo {
			caps = append(caps, "echo-message")
		}
		alice := e.dial()
		alice.registerSASL("a", "alice", "wonderland", caps...)
		alice.joinChannel()
		alice.send("@label=M BATCH +b draft/multiline #chat", "@batch=b PRIVMSG #chat :one",
			"@batch=b PRIVMSG #chat :two", "BATCH -b")
		lines, batched := alice.labeledReply("M")
		switch {
		case echo && (!batched || lines[0].Command != "BATCH" || lines[1].Command != "PRIVMSG"):
			t.Errorf("echo: %v (labeled batch %v), want the multiline batch in a labeled batch", cmdNames(lines), batched)
		case !echo && (batched || lines[0].Command != "ACK"):
			t.Errorf("no echo: %v, want ACK", cmdNames(lines))
		}
		if rest := alice.sync(); len(rest) > 0 {
			t.Errorf("after the labeled reply: %v", cmdNames(rest))
		}
		if n := e.b.postCount(); n != 1 {
			t.Errorf("%d posts, want 1", n)
		}
	}
}
