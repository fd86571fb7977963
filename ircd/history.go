package ircd

import (
	"time"
)

// replayHistory sends the history Backend.Join returned to this client only (see
// sendHistoryBatch). It returns the msgids replayed.
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
