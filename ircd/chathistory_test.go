package ircd

import (
	"strings"
	"testing"
	"time"
)

func TestParseHistory(t *testing.T) {
	ts := time.Date(2026, 12, 2, 6, 0, 0, 123e6, time.UTC)
	for _, tc := range []struct {
		in   string
		want HistoryQuery // when code is ""
		code string
	}{
		{in: "LATEST #chat * 10", want: HistoryQuery{Subcommand: "LATEST", Limit: 10}},
		{in: "latest #CHAT * 10", want: HistoryQuery{Subcommand: "LATEST", Limit: 10}},
		{in: "LATEST #chat msgid=42 5", want: HistoryQuery{Subcommand: "LATEST", From: MsgRef{ID: "42"}, Limit: 5}},
		{in: "BEFORE #chat timestamp=2026-12-02T06:00:00.123Z 500", want: HistoryQuery{Subcommand: "BEFORE", From: MsgRef{Time: ts}, Limit: maxHistoryLimit}},
		{in: "AFTER #chat msgid=7 1", want: HistoryQuery{Subcommand: "AFTER", From: MsgRef{ID: "7"}, Limit: 1}},
		{in: "AROUND #chat msgid=7 9", want: HistoryQuery{Subcommand: "AROUND", From: MsgRef{ID: "7"}, Limit: 9}},
		{in: "BETWEEN #chat msgid=7 timestamp=2026-12-02T06:00:00.123Z 3", want: HistoryQuery{Subcommand: "BETWEEN", From: MsgRef{ID: "7"}, To: MsgRef{Time: ts}, Limit: 3}},
		{in: "TARGETS timestamp=2026-12-02T06:00:00.123Z timestamp=2026-12-02T06:00:00.123Z 3", want: HistoryQuery{Subcommand: "TARGETS", From: MsgRef{Time: ts}, To: MsgRef{Time: ts}, Limit: 3}},
		{in: "LATEST #chat * 0", code: "INVALID_PARAMS"},
		{in: "LATEST #chat * -3", code: "INVALID_PARAMS"},
		{in: "LATEST #chat * many", code: "INVALID_PARAMS"},
		{in: "BEFORE #chat msgid=1", code: "INVALID_PARAMS"},
		{in: "SEARCH #chat x 1", code: "INVALID_PARAMS"},
		{in: "LATEST #other * 10", code: "INVALID_TARGET"},
		{in: "BEFORE #chat * 10", code: "INVALID_MSGREFTYPE"},
		{in: "BEFORE #chat foo=1 10", code: "INVALID_MSGREFTYPE"},
		{in: "BEFORE #chat msgid= 10", code: "INVALID_MSGREFTYPE"},
		{in: "BEFORE #chat timestamp=yesterday 10", code: "INVALID_MSGREFTYPE"},
		{in: "TARGETS msgid=1 timestamp=2026-12-02T06:00:00.123Z 3", code: "INVALID_MSGREFTYPE"},
	} {
		_, q, err := parseHistory(strings.Fields(tc.in), "#chat")
		if tc.code != "" {
			he, ok := err.(*historyError)
			if !ok || he.code != tc.code {
				t.Errorf("%q: err %v, want %s", tc.in, err, tc.code)
			}
			continue
		}
		if err != nil || q.Subcommand != tc.want.Subcommand || q.Limit != tc.want.Limit ||
			q.From.ID != tc.want.From.ID || !q.From.Time.Equal(tc.want.From.Time) ||
			q.To.ID != tc.want.To.ID || !q.To.Time.Equal(tc.want.To.Time) {
			t.Errorf("%q = %+v, %v; want %+v", tc.in, q, err, tc.want)
		}
	}
}

// A backend without history answers CHATHISTORY with a FAIL, never silence; the limits are
// advertised in ISUPPORT.
func TestChathistoryWithoutBackend(t *testing.T) {
	e := newTestEnv(t, nil)
	tc := e.dial()
	welcome := tc.register("x")
	var isupport string
	for _, m := range welcome {
		if m.Command == "005" {
			isupport += strings.Join(m.Params, " ") + " "
		}
	}
	for _, want := range []string{"CHATHISTORY=100", "MSGREFTYPES=msgid,timestamp"} {
		if !strings.Contains(isupport, want) {
			t.Errorf("ISUPPORT lacks %s: %s", want, isupport)
		}
	}
	tc.send("CHATHISTORY LATEST #chat * 10")
	if m := tc.expect("FAIL"); m.Params[0] != "CHATHISTORY" || m.Params[1] != "MESSAGE_ERROR" {
		t.Fatalf("got %v", m.Params)
	}
	tc.send("REDACT #chat m1")
	if m := tc.expect("FAIL"); m.Params[0] != "REDACT" || m.Params[1] != "REDACT_FORBIDDEN" {
		t.Fatalf("got %v", m.Params)
	}
	tc.send("REDACT #other m1")
	if m := tc.expect("FAIL"); m.Params[1] != "INVALID_TARGET" {
		t.Fatalf("got %v", m.Params)
	}
}

// Multiline batches: joined into one Outgoing with newlines (concat lines without one), the
// limits refused with the spec's codes, and delivered as one batch to draft/multiline clients
// and as separate lines to the others.
func TestMultilineBatch(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, bob := twoUsers(t, e, "draft/multiline", "batch", "message-tags")
	carol := e.dial()
	carol.registerSASL("c", "alice", "wonderland", "draft/multiline", "batch", "message-tags")
	carol.joinChannel()
	alice.sync()
	bob.sync()
	alice.send("BATCH +a draft/multiline #chat", "@batch=a PRIVMSG #chat :hello", "@batch=a;draft/multiline-concat PRIVMSG #chat : world",
		"@batch=a PRIVMSG #chat :second line", "BATCH -a")
	alice.sync()
	e.b.mu.Lock()
	got := e.b.posts[len(e.b.posts)-1].Text
	e.b.mu.Unlock()
	if got != "hello world\nsecond line" {
		t.Fatalf("posted %q", got)
	}
	var names []string
	for _, m := range carol.sync() {
		names = append(names, m.Command+":"+lastParam(m))
	}
	if strings.Join(names, " ") != "BATCH:#chat PRIVMSG:hello world PRIVMSG:second line BATCH:"+names[len(names)-1][len("BATCH:"):] ||
		!strings.HasPrefix(names[len(names)-1], "BATCH:-") {
		t.Fatalf("multiline client got %v", names)
	}
	if lines := cmdNames(bob.sync()); strings.Join(lines, " ") != "PRIVMSG PRIVMSG" {
		t.Fatalf("plain client got %v", lines)
	}

	for _, tc := range []struct {
		lines []string
		code  string
	}{
		{append([]string{"BATCH +b draft/multiline #chat"}, append(repeat("@batch=b PRIVMSG #chat :x", multilineMaxLines+1), "BATCH -b")...), "MULTILINE_MAX_LINES"},
		{append([]string{"BATCH +b draft/multiline #chat"}, append(repeat("@batch=b PRIVMSG #chat :"+strings.Repeat("y", 400), 11), "BATCH -b")...), "MULTILINE_MAX_BYTES"},
		{[]string{"BATCH +c draft/multiline #chat", "@batch=c PRIVMSG #other :x", "BATCH -c"}, "MULTILINE_INVALID_TARGET"},
		{[]string{"BATCH +d draft/multiline #chat", "@batch=d PRIVMSG #chat :x", "@batch=d NOTICE #chat :y", "BATCH -d"}, "MULTILINE_INVALID"},
		{[]string{"BATCH -zzz"}, "MULTILINE_INVALID"},
	} {
		alice.send(tc.lines...)
		if m := alice.expect("FAIL"); m.Params[0] != "BATCH" || m.Params[1] != tc.code {
			t.Errorf("%s: got %v", tc.code, m.Params)
		}
	}
	if e.b.postCount() != 1 {
		t.Fatalf("%d posts, want only the first batch", e.b.postCount())
	}
}

// The sender's echo-message copy of a multiline batch is a batch too.
func TestMultilineEcho(t *testing.T) {
	e := newTestEnv(t, nil)
	alice, _ := twoUsers(t, e, "draft/multiline", "batch", "echo-message")
	alice.send("BATCH +e draft/multiline #chat", "@batch=e PRIVMSG #chat :a", "@batch=e PRIVMSG #chat :b", "BATCH -e")
	if got := strings.Join(cmdNames(alice.sync()), " "); got != "BATCH PRIVMSG PRIVMSG BATCH" {
		t.Fatalf("echo = %s", got)
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
