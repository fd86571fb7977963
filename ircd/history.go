package ircd

import (
	"slices"
	"time"
)

// replayLog is the channel's recent messages, oldest first, replayed on JOIN to clients
// without draft/chathistory. ircd keeps it, not the backend, because a message must be added
// to it in the same step as its fan-out (Server.Deliver) that a JOIN takes its copy in: a
// joiner then gets each message once, in the replay or live after it, never both and never
// neither. Guarded by Server.mu.
type replayLog struct {
	max  int
	msgs []Message
}

// addLocked appends m, dropping the oldest beyond max.
func (r *replayLog) addLocked(m Message) {
	if r.max <= 0 {
		return
	}
	if len(r.msgs) == r.max {
		r.msgs = slices.Delete(r.msgs, 0, 1)
	}
	r.msgs = append(r.msgs, m)
}

func (r *replayLog) copyLocked() []Message { return append([]Message(nil), r.msgs...) }

// findLocked is the index of the message with msgid id, or -1.
func (r *replayLog) findLocked(id string) int {
	for i := len(r.msgs) - 1; i >= 0; i-- {
		if r.msgs[i].ID == id {
			return i
		}
	}
	return -1
}

// removeLocked takes out the message at i.
func (r *replayLog) removeLocked(i int) {
	r.msgs = slices.Delete(r.msgs, i, i+1)
}

// SeedHistory adds messages (oldest first) to the JOIN replay without delivering them: what
// was said before this server started.
func (s *Server) SeedHistory(msgs []Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		s.replay.addLocked(m)
	}
}

// HistoryIDs lists the msgids in the JOIN replay, oldest first (a backend reconciling after
// an outage finds what was deleted meanwhile).
func (s *Server) HistoryIDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := make([]string, len(s.replay.msgs))
	for i := range s.replay.msgs {
		ids[i] = s.replay.msgs[i].ID
	}
	return ids
}

// replayHistory sends the history copied at JOIN to this client only (see sendHistoryBatch).
// It returns the msgids replayed.
func (c *Client) replayHistory(history []Message) map[string]bool {
	if len(history) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(history))
	for i := range history {
		if id := history[i].ID; id != "" {
			seen[id] = true
		}
	}
	c.sendHistoryBatch(history)
	return seen
}

// sendHistoryBatch sends history to this client only, in order: in a chathistory batch when the
// client has batch, with the time tag under server-time, else with a "[time] " text prefix.
// Each message is split and cut like live traffic.
func (c *Client) sendHistoryBatch(history []Message) {
	s := c.s
	cfg := s.cfg()
	v := c.caps()
	c.inBatch("chathistory", []string{cfg.Channel}, func(extra map[string]string) [][]byte {
		var lines [][]byte
		s.mu.RLock()
		defer s.mu.RUnlock()
		for i := range history {
			m := &history[i]
			prefix := ""
			if !v.has(capServerTime) && !m.Time.IsZero() {
				prefix = "[" + historyTime(m.Time, cfg.HistoryTimeFormat) + "] "
			}
			cm := s.prepareLocked(m, cfg.Channel)
			lines = append(lines, cm.lines(v, prefix, extra, s.serializer())...)
		}
		return lines
	})
}

// historyTime formats a replayed message's time: with layout when configured, else the time of
// day for today's messages and the date and time for older ones (local time).
func historyTime(t time.Time, layout string) string {
	t = t.Local()
	if layout != "" {
		return t.Format(layout)
	}
	y1, m1, d1 := t.Date()
	y2, m2, d2 := time.Now().Date()
	if y1 == y2 && m1 == m2 && d1 == d2 {
		return t.Format("15:04")
	}
	return t.Format("2006-01-02 15:04")
}
