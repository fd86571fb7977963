package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/directus-ircd/directus-ircd/directus"

	"github.com/directus-ircd/directus-ircd/internal/irctest"
)

// loginCaps logs in with SASL, asks for more capabilities, and joins.
func loginCaps(t *testing.T, s *stack, email, password string, caps ...string) *irctest.Client {
	t.Helper()
	c := irctest.Dial(t, s.d.addr)
	c.RegisterSASL("x", email, password)
	if len(caps) > 0 {
		c.Send("CAP", "REQ", strings.Join(caps, " "))
		c.ExpectFunc("CAP ACK", func(m ircmsg.Message) bool { return m.Command == "CAP" && len(m.Params) > 1 && m.Params[1] == "ACK" })
	}
	c.Join(channel)
	return c
}

// sendTagged sends a line with tags, serialised by ircmsg.
func sendTagged(t *testing.T, c *irctest.Client, tags map[string]string, command string, params ...string) {
	t.Helper()
	m := ircmsg.MakeMessage(tags, "", command, params...)
	line, err := m.Line()
	if err != nil {
		t.Fatal(err)
	}
	c.SendRaw(line)
}

// historyReply is the answer to one CHATHISTORY command: the messages of its batch, or a FAIL.
type historyReply struct {
	batch []ircmsg.Message
	fail  *ircmsg.Message
}

func (h historyReply) texts() string {
	var out []string
	for _, m := range h.batch {
		out = append(out, text(m))
	}
	return strings.Join(out, "|")
}

func chathistory(t *testing.T, c *irctest.Client, params ...string) historyReply {
	t.Helper()
	c.Send("CHATHISTORY", params...)
	var r historyReply
	id := ""
	c.ExpectFunc("CHATHISTORY reply", func(m ircmsg.Message) bool {
		switch {
		case m.Command == "FAIL":
			r.fail = &m
			return true
		case m.Command == "BATCH" && strings.HasPrefix(m.Params[0], "+"):
			id = m.Params[0][1:]
		case m.Command == "BATCH" && m.Params[0] == "-"+id:
			return true
		case id != "":
			if ok, b := m.GetTag("batch"); !ok || b != id {
				t.Errorf("line outside the batch: %v", m)
			}
			r.batch = append(r.batch, m)
		}
		return false
	})
	return r
}

func msgid(t *testing.T, m ircmsg.Message) string {
	t.Helper()
	ok, id := m.GetTag("msgid")
	if !ok {
		t.Fatalf("no msgid on %v", m)
	}
	return id
}

func expectFail(t *testing.T, r historyReply, code string) {
	t.Helper()
	if r.fail == nil || r.fail.Params[1] != code {
		t.Fatalf("got %v (batch %q), want FAIL CHATHISTORY %s", r.fail, r.texts(), code)
	}
}

// CHATHISTORY against a real Directus: every subcommand, limits, paging, the FAILs, long
// items cut like live ones, and the user's own Directus permissions deciding.
func TestChatHistory(t *testing.T) {
	s := newStack(t, nil, nil)
	carol := s.web("carol@example.com", "carolpass")
	ids := map[int]string{}
	for i := 1; i <= 25; i++ {
		ids[i] = carol.send(fmt.Sprintf("h%d", i))
	}
	alice := loginCaps(t, s, "alice", "alicepass", "draft/chathistory", "batch", "account-tag")
	hRange := func(from, to int) string {
		var out []string
		for i := from; i <= to; i++ {
			out = append(out, fmt.Sprintf("h%d", i))
		}
		return strings.Join(out, "|")
	}

	t.Run("no JOIN replay for chathistory clients", func(t *testing.T) {
		c := irctest.Dial(t, s.d.addr)
		c.RegisterSASL("x", "bob", "bobpass")
		c.Send("CAP", "REQ", "draft/chathistory batch")
		c.Expect("CAP")
		if hist := c.Join(channel); len(hist) != 0 {
			t.Fatalf("JOIN replayed %d lines to a chathistory client", len(hist))
		}
	})
	t.Run("LATEST", func(t *testing.T) {
		r := chathistory(t, alice, "LATEST", channel, "*", "10")
		if r.texts() != hRange(16, 25) {
			t.Fatalf("LATEST * 10 = %q", r.texts())
		}
		m := r.batch[0]
		if msgid(t, m) != ids[16] || from(m) != "Carol" {
			t.Fatalf("first line %v, want msgid %s from Carol", m, ids[16])
		}
		if ok, acct := m.GetTag("account"); !ok || acct != "carol" {
			t.Errorf("account tag = %q", acct)
		}
		if ok, _ := m.GetTag("time"); !ok {
			t.Errorf("no server-time on %v", m)
		}
		if r := chathistory(t, alice, "LATEST", channel, "msgid="+ids[22], "10"); r.texts() != hRange(23, 25) {
			t.Fatalf("LATEST msgid=h22 = %q", r.texts())
		}
	})
	t.Run("BEFORE pages back to the start", func(t *testing.T) {
		var pages []string
		ref := "msgid=" + ids[21]
		for {
			r := chathistory(t, alice, "BEFORE", channel, ref, "8")
			if len(r.batch) == 0 {
				break
			}
			pages = append(pages, r.texts())
			ref = "msgid=" + msgid(t, r.batch[0])
		}
		want := []string{hRange(13, 20), hRange(5, 12), hRange(1, 4)}
		if strings.Join(pages, " / ") != strings.Join(want, " / ") {
			t.Fatalf("pages = %q, want %q", pages, want)
		}
	})
	t.Run("AFTER AROUND BETWEEN", func(t *testing.T) {
		for _, tc := range []struct {
			params []string
			want   string
		}{
			{[]string{"AFTER", channel, "msgid=" + ids[5], "3"}, hRange(6, 8)},
			{[]string{"AROUND", channel, "msgid=" + ids[10], "4"}, hRange(8, 11)},
			{[]string{"BETWEEN", channel, "msgid=" + ids[3], "msgid=" + ids[8], "10"}, hRange(4, 7)},
			{[]string{"BETWEEN", channel, "msgid=" + ids[8], "msgid=" + ids[3], "2"}, hRange(6, 7)},
			{[]string{"AFTER", channel, "msgid=" + ids[24], "10"}, "h25"},
		} {
			if r := chathistory(t, alice, tc.params...); r.texts() != tc.want {
				t.Errorf("%v = %q (fail %v), want %q", tc.params, r.texts(), r.fail, tc.want)
			}
		}
	})
	t.Run("timestamps and TARGETS", func(t *testing.T) {
		past := "timestamp=" + time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
		future := "timestamp=" + time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
		if r := chathistory(t, alice, "BETWEEN", channel, past, future, "100"); r.texts() != hRange(1, 25) {
			t.Fatalf("BETWEEN past future = %q", r.texts())
		}
		if r := chathistory(t, alice, "BEFORE", channel, future, "2"); r.texts() != hRange(24, 25) {
			t.Fatalf("BEFORE future 2 = %q", r.texts())
		}
		if r := chathistory(t, alice, "AFTER", channel, past, "2"); r.texts() != hRange(1, 2) {
			t.Fatalf("AFTER past 2 = %q", r.texts())
		}
		// Exact bounds: the server-time of h10 (items are created one after another, ms apart).
		_, at := chathistory(t, alice, "AROUND", channel, "msgid="+ids[10], "1").batch[0].GetTag("time")
		if r := chathistory(t, alice, "BEFORE", channel, "timestamp="+at, "2"); r.texts() != hRange(8, 9) {
			t.Fatalf("BEFORE timestamp of h10 = %q", r.texts())
		}
		if r := chathistory(t, alice, "AFTER", channel, "timestamp="+at, "2"); r.texts() != hRange(11, 12) {
			t.Fatalf("AFTER timestamp of h10 = %q", r.texts())
		}
		r := chathistory(t, alice, "TARGETS", past, future, "10")
		if len(r.batch) != 1 || r.batch[0].Command != "CHATHISTORY" || r.batch[0].Params[1] != channel {
			t.Fatalf("TARGETS = %v (fail %v)", r.batch, r.fail)
		}
		if r := chathistory(t, alice, "TARGETS", future, "timestamp=2099-01-01T00:00:00.000Z", "10"); len(r.batch) != 0 {
			t.Fatalf("TARGETS of an empty range = %v", r.batch)
		}
	})
	t.Run("limits and errors", func(t *testing.T) {
		if r := chathistory(t, alice, "LATEST", channel, "*", "500"); len(r.batch) != 25 {
			t.Fatalf("LATEST * 500 gave %d messages, want all 25 (the limit is capped at 100)", len(r.batch))
		}
		expectFail(t, chathistory(t, alice, "LATEST", channel, "*", "0"), "INVALID_PARAMS")
		expectFail(t, chathistory(t, alice, "LATEST", "#other", "*", "5"), "INVALID_TARGET")
		expectFail(t, chathistory(t, alice, "BEFORE", channel, "foo=bar", "5"), "INVALID_MSGREFTYPE")
		expectFail(t, chathistory(t, alice, "BEFORE", channel, "msgid=999999", "5"), "MESSAGE_ERROR")
		expectFail(t, chathistory(t, alice, "AROUND", channel, "msgid=pm-0123", "5"), "MESSAGE_ERROR")
	})
	t.Run("long items are cut like live ones", func(t *testing.T) {
		var lines []string
		for i := 1; i <= 30; i++ {
			lines = append(lines, fmt.Sprintf("line %d", i))
		}
		carol.send(strings.Join(lines, "\n"))
		r := chathistory(t, alice, "LATEST", channel, "*", "1")
		if len(r.batch) != 20 || !strings.Contains(text(r.batch[19]), "11 more lines not shown") {
			t.Fatalf("a 30-line item came back as %d lines, last %q", len(r.batch), text(r.batch[len(r.batch)-1]))
		}
	})
	t.Run("the user's own Directus permissions decide", func(t *testing.T) {
		permID := addReader(t, s, "dora@example.com", "Dora")
		dora := loginCaps(t, s, "dora", "pw-Dora", "draft/chathistory", "batch")
		if r := chathistory(t, dora, "BEFORE", channel, "msgid="+ids[25], "3"); r.texts() != hRange(22, 24) {
			t.Fatalf("dora, allowed to read, got %q (fail %v)", r.texts(), r.fail)
		}
		// Directus 12 without a license cannot filter a read permission (custom rules are a
		// licensed feature; such rules are also dropped when permissions are read), so hiding
		// items from a user means taking the read away: the history read goes to Directus
		// with her token, and she gets none of it.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := s.dc.Do(ctx, s.dx.AdminToken(t), http.MethodPatch, "/permissions/"+permID,
			map[string]any{"permissions": map[string]any{"text": map[string]any{"_ncontains": "secret"}}}, nil)
		var de *directus.Error
		if !errors.As(err, &de) || de.Code != "RESOURCE_RESTRICTED" {
			t.Fatalf("a filtered read permission: %v; this test assumes Directus refuses it without a license", err)
		}
		adminDo(t, s, http.MethodDelete, "/permissions/"+permID, nil)
		r := chathistory(t, dora, "LATEST", channel, "*", "3")
		expectFail(t, r, "MESSAGE_ERROR")
		if !strings.Contains(text(*r.fail), "permission") {
			t.Fatalf("FAIL text = %q, want Directus's reason", text(*r.fail))
		}
	})
}

// addReader creates a user whose own policy grants read and create on messages and read on
// users; it returns the id of the messages read permission.
func addReader(t *testing.T, s *stack, email, first string) string {
	t.Helper()
	var pol struct{ ID string }
	_ = json.Unmarshal(adminDo(t, s, http.MethodPost, "/policies", map[string]any{"name": "p-" + first, "app_access": false, "admin_access": false}), &pol)
	var readID string
	for _, p := range [][2]string{{"messages", "read"}, {"messages", "create"}, {"directus_users", "read"}} {
		var perm struct {
			ID json.Number `json:"id"`
		}
		_ = json.Unmarshal(adminDo(t, s, http.MethodPost, "/permissions", map[string]any{"policy": pol.ID, "collection": p[0], "action": p[1], "fields": []string{"*"}}), &perm)
		if p == [2]string{"messages", "read"} {
			readID = perm.ID.String()
		}
	}
	var role struct{ ID string }
	_ = json.Unmarshal(adminDo(t, s, http.MethodPost, "/roles", map[string]any{"name": "r-" + first, "policies": []map[string]any{{"policy": pol.ID}}}), &role)
	adminDo(t, s, http.MethodPost, "/users", map[string]any{"email": email, "password": "pw-" + first, "first_name": first, "role": role.ID, "status": "active"})
	return readID
}

// newestItem reads the newest item of the collection over REST, as the admin.
func newestItem(t *testing.T, s *stack) map[string]any {
	t.Helper()
	var items []map[string]any
	q := url.Values{"sort": {"-id"}, "limit": {"1"}, "fields": {"id,text"}}
	_ = json.Unmarshal(adminDo(t, s, http.MethodGet, "/items/messages?"+q.Encode(), nil), &items)
	if len(items) != 1 {
		t.Fatalf("no items")
	}
	return items[0]
}
