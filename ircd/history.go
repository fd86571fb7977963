package ircd

import (
	"strconv"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

// replayHistory sends the history Backend.Join returned to this client only, in order: in a
// chathistory batch when the client has batch, with the time tag under server-time, else with a
// "[time] " text prefix. It returns the msgids replayed.
func (c *Client) replayHistory(history []Message) map[string]bool {
	if len(history) == 0 {
		return nil
	}
	s := c.s
	cfg := s.cfg()
	v := c.caps()
	var extra map[string]string
	batchID := ""
	if v.has(capBatch) {
		batchID = "h" + strconv.FormatUint(s.batchID.Add(1), 36)
		extra = map[string]string{"batch": batchID}
	}
	seen := make(map[string]bool, len(history))
	var lines [][]byte
	s.mu.RLock()
	for i := range history {
		m := &history[i]
		if m.ID != "" {
			seen[m.ID] = true
		}
		prefix := ""
		if !v.has(capServerTime) && !m.Time.IsZero() {
			prefix = "[" + historyTime(m.Time, cfg.HistoryTimeFormat) + "] "
		}
		cm := s.prepareLocked(m, cfg.Channel)
		lines = append(lines, cm.lines(v, prefix, extra, s.serializer())...)
	}
	s.mu.RUnlock()
	if batchID != "" {
		c.send(ircmsg.MakeMessage(nil, cfg.ServerName, "BATCH", "+"+batchID, "chathistory", cfg.Channel))
	}
	c.replyLines(lines...)
	if batchID != "" {
		c.send(ircmsg.MakeMessage(nil, cfg.ServerName, "BATCH", "-"+batchID))
	}
	return seen
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
