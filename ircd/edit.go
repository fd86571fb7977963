package ircd

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// noticeExcerpt is the most bytes of a message quoted in an edit or delete NOTICE: with the
// rest of the NOTICE it fits one IRC line, so each such NOTICE is one line.
const noticeExcerpt = 200

// Edited tells the channel that the stored message m.ID now reads m.Text, unless that is what
// the replay already has; the replay is updated. With onlyKnown (reconciling after an
// outage) a message outside the replay is skipped: nothing says it changed. IRC has no edit
// that clients understand yet, so the channel gets a server NOTICE quoting the new text.
func (s *Server) Edited(m Message, onlyKnown bool) {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	s.mu.Lock()
	known := false
	if i := s.replay.findLocked(m.ID); i >= 0 {
		h := &s.replay.msgs[i]
		if h.Text == m.Text && h.Action == m.Action {
			s.mu.Unlock()
			return
		}
		h.Text, h.Action = m.Text, m.Action
		known = true
	}
	s.mu.Unlock()
	if onlyKnown && !known {
		return
	}
	text := oneLine(m.Text, noticeExcerpt)
	if m.Action {
		text = "* " + m.Nick + " " + text
	}
	notice := Message{Command: "NOTICE", Text: fmt.Sprintf("[edit] %s edited a message, now: %s", m.Nick, text)}
	s.fanOutMessage(&notice, nil, false)
}

// deleteNoticeLocked is what clients without draft/message-redaction are told of a deleted
// message; the message leaves the replay. Called with s.mu held for writing.
func (s *Server) deleteNoticeLocked(id string) string {
	i := s.replay.findLocked(id)
	if i < 0 {
		return fmt.Sprintf("[delete] A message was deleted (id %s)", id)
	}
	h := s.replay.msgs[i]
	s.replay.removeLocked(i)
	return fmt.Sprintf("[delete] A message by %s was deleted: %s", h.Nick, oneLine(h.Text, noticeExcerpt))
}

// oneLine makes text one line for a NOTICE about it: its first non-blank line, cut to at
// most n bytes, with how many lines were left out. Later lines would otherwise arrive as
// lines of their own that could read like anything, commands included.
func oneLine(text string, n int) string {
	var lines []string
	for _, l := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
	}
	if len(lines) == 0 {
		return `""`
	}
	first := lines[0]
	if len(first) > n {
		for n > 0 && !utf8.RuneStart(first[n]) {
			n--
		}
		first = first[:n] + "…"
	}
	out := `"` + first + `"`
	switch more := len(lines) - 1; {
	case more == 1:
		out += " (and 1 more line)"
	case more > 1:
		out += " (and " + strconv.Itoa(more) + " more lines)"
	}
	return out
}
