package ircd

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestReplayLogKeepsTheNewest(t *testing.T) {
	r := replayLog{max: 3}
	for i := range 5 {
		r.addLocked(Message{ID: strconv.Itoa(i)})
	}
	if got := r.copyLocked(); len(got) != 3 || got[0].ID != "2" || got[2].ID != "4" {
		t.Fatalf("replay = %v, want ids 2..4", got)
	}
	if i := r.findLocked("3"); i != 1 {
		t.Fatalf("find 3 = %d", i)
	}
	r.removeLocked(1)
	if got := r.copyLocked(); len(got) != 2 || got[0].ID != "2" || got[1].ID != "4" || r.findLocked("3") != -1 {
		t.Fatalf("after removing 3: %v", got)
	}
	none := replayLog{}
	none.addLocked(Message{ID: "x"})
	if len(none.msgs) != 0 {
		t.Fatal("a replay of size 0 kept a message")
	}
}

// Messages delivered while clients join reach each joiner exactly once and in order: in its
// replay or live, never both and never neither, however the JOIN and the fan-outs interleave.
func TestJoinersGetEachDeliveryOnce(t *testing.T) {
	const messages, joiners = 600, 12
	e := newTestEnv(t, func(c *Config) { c.History = messages + 1; c.SendQueueLen = 8 * messages })
	type result struct {
		ids []string
		err error
	}
	results := make([]chan result, joiners)
	conns := make([]*testConn, joiners)
	for j := range joiners {
		tc := e.dial()
		tc.send("CAP LS 302", "CAP REQ :message-tags batch", "NICK j"+strconv.Itoa(j), "USER u 0 * :x", "CAP END")
		tc.waitFor("376")
		conns[j] = tc
		results[j] = make(chan result, 1)
		go func() { // reads everything after the JOIN, until the last message
			var ids []string
			for {
				m, err := tc.tryRead(10 * time.Second)
				if err != nil {
					results[j] <- result{ids, err}
					return
				}
				if m.Command == "PRIVMSG" {
					_, id := m.GetTag("msgid")
					ids = append(ids, id)
					if id == "end" {
						results[j] <- result{ids, nil}
						return
					}
				}
			}
		}()
	}
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		for i := range messages {
			e.srv.Deliver(Message{ID: "m" + strconv.Itoa(i), Nick: "Zed", Text: "line"}, nil)
			runtime.Gosched()
		}
	}()
	for _, tc := range conns { // JOINs interleaved with the deliveries
		tc.send("JOIN #chat")
		runtime.Gosched()
	}
	<-delivered
	e.srv.Deliver(Message{ID: "end", Nick: "Zed", Text: "end"}, nil)
	want := make([]string, 0, messages+1)
	for i := range messages {
		want = append(want, "m"+strconv.Itoa(i))
	}
	want = append(want, "end")
	for j, ch := range results {
		r := <-ch
		if r.err != nil {
			t.Fatalf("joiner %d: %v after %d messages", j, r.err, len(r.ids))
		}
		if !slices.Equal(r.ids, want) {
			t.Errorf("joiner %d got %d messages, want %d once each in order; first difference: %s", j, len(r.ids), len(want), firstDiff(r.ids, want))
		}
	}
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d got %s, want %s", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(got), len(want))
}

// An edit is told once, with the new text, and later joiners replay the new text; an edit to
// the text the replay already has, or (when reconciling) to a message outside it, is not told.
func TestEditedUpdatesTheReplay(t *testing.T) {
	e := newTestEnv(t, nil)
	e.srv.SeedHistory([]Message{{ID: "h1", Nick: "Zed", Text: "typo"}})
	bob := e.dial()
	bob.register("bob")
	bob.joinChannel()

	e.srv.Edited(Message{ID: "h1", Nick: "Zed", Text: "typo"}, false)    // what IRC has
	e.srv.Edited(Message{ID: "old", Nick: "Zed", Text: "unknown"}, true) // reconciling, outside the replay
	e.srv.Edited(Message{ID: "h1", Nick: "Zed", Text: "fixed\nsecond line"}, false)
	got := bob.sync()
	if len(got) != 1 || got[0].Command != "NOTICE" ||
		lastParam(got[0]) != `[edit] Zed edited a message, now: "fixed" (and 1 more line)` {
		t.Fatalf("bob got %v, want one edit NOTICE", got)
	}
	carol := e.dial()
	carol.register("carol")
	replay := carol.joinChannel()
	if m, ok := find(replay, "PRIVMSG"); !ok || lastParam(m) != "fixed" {
		t.Fatalf("replay after the edit: %v", replay)
	}
}

// A deletion leaves the replay, and clients without message-redaction get a NOTICE quoting it.
func TestRedactLeavesTheReplay(t *testing.T) {
	e := newTestEnv(t, nil)
	e.srv.SeedHistory([]Message{{ID: "h1", Nick: "Zed", Text: "oops"}, {ID: "h2", Nick: "Zed", Text: "keep"}})
	bob := e.dial()
	bob.register("bob")
	bob.joinChannel()
	e.srv.Redact(Redaction{ID: "h1"})
	e.srv.Redact(Redaction{ID: "gone"})
	got := bob.sync()
	if len(got) != 2 || lastParam(got[0]) != `[delete] A message by Zed was deleted: "oops"` ||
		lastParam(got[1]) != "[delete] A message was deleted (id gone)" {
		t.Fatalf("bob got %v", got)
	}
	if ids := e.srv.HistoryIDs(); !slices.Equal(ids, []string{"h2"}) {
		t.Fatalf("replay ids %v, want [h2]", ids)
	}
}
