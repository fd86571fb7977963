package ircd

import (
	"strconv"
	"sync"

	"github.com/ergochat/irc-go/ircmsg"
)

// responseBuffer collects the replies of the command the reader is running (ergo's
// ResponseBuffer is the model): they are queued when the handler returns, or earlier when a
// handler flushes (JOIN, before the deliveries it held). Labeled-response is applied here,
// in one place, so handlers only reply. Deliveries from others never go through it.
//
// The reader goroutine fills and flushes it; mu is for closeWith, which any goroutine may
// call and which sends what is collected before the ERROR.
type responseBuffer struct {
	mu      sync.Mutex
	active  bool     // a command is running: replies are collected
	label   string   // the command's label tag (labeled-response), "" for none
	lines   [][]byte // collected, not yet queued
	sent    int      // lines of this command already queued by an early flush
	batchID string   // the labeled-response batch opened by an early flush
}

// beginReplies starts collecting the replies of one command (reader goroutine).
func (c *Client) beginReplies() {
	c.rb.mu.Lock()
	c.rb.active, c.rb.label, c.rb.lines, c.rb.sent, c.rb.batchID = true, "", nil, 0, ""
	c.rb.mu.Unlock()
}

// labelReplies sets the label of the running command's replies, when the client negotiated
// labeled-response.
func (c *Client) labelReplies(msg *ircmsg.Message) {
	if ok, label := msg.GetTag("label"); ok && label != "" && c.hasCap(capLabeledResponse) {
		c.rb.mu.Lock()
		c.rb.label = label
		c.rb.mu.Unlock()
	}
}

// takeLabel removes the running command's label and returns it: the label of a client's
// BATCH + is that of the whole batch, answered when the batch closes (useLabel).
func (c *Client) takeLabel() string {
	c.rb.mu.Lock()
	defer c.rb.mu.Unlock()
	label := c.rb.label
	c.rb.label = ""
	return label
}

// useLabel labels the running command's replies with a label taken earlier (takeLabel).
func (c *Client) useLabel(label string) {
	if label != "" {
		c.rb.mu.Lock()
		c.rb.label = label
		c.rb.mu.Unlock()
	}
}

// endReplies queues the command's replies, labeled, and stops collecting.
func (c *Client) endReplies() { c.flushReplies(true) }

// flushReplies queues what the running command has replied so far (final: all of it, the
// command is done). Pacing is replyLines's, as for any reply.
func (c *Client) flushReplies(final bool) {
	c.rb.mu.Lock()
	lines := c.labeled(final)
	if final {
		c.rb.active, c.rb.label = false, ""
	}
	c.rb.mu.Unlock()
	c.queueReplies(lines...)
}

// buffered collects reply lines while a command runs; it reports false when none does.
func (c *Client) buffered(lines [][]byte) bool {
	c.rb.mu.Lock()
	defer c.rb.mu.Unlock()
	if !c.rb.active {
		return false
	}
	c.rb.lines = append(c.rb.lines, lines...)
	return true
}

// takeReplies hands over what is collected and not yet queued, without labels: the
// connection is closing and they go before its ERROR.
func (c *Client) takeReplies() [][]byte {
	c.rb.mu.Lock()
	defer c.rb.mu.Unlock()
	lines := c.rb.lines
	c.rb.lines = nil
	return lines
}

// labeled takes the collected lines with the label applied (called with rb.mu held): one
// reply carries the label, several go in a labeled-response batch (with batch; without it
// they go unlabeled), none is answered with ACK. A flush before the end opens the batch.
func (c *Client) labeled(final bool) [][]byte {
	rb := &c.rb
	lines := rb.lines
	rb.lines = nil
	if rb.label == "" {
		return lines
	}
	server := c.s.cfg().ServerName
	total := rb.sent + len(lines)
	rb.sent = total
	switch {
	case rb.batchID == "" && final && total == 0:
		return c.serialized(ircmsg.MakeMessage(map[string]string{"label": rb.label}, server, "ACK"))
	case rb.batchID == "" && final && total == 1 && len(lines) == 1:
		return [][]byte{c.withTag(lines[0], "label", rb.label)}
	case rb.batchID == "" && (len(lines) == 0 || !c.hasCap(capBatch)):
		return lines
	}
	var out [][]byte
	if rb.batchID == "" {
		rb.batchID = "l" + strconv.FormatUint(c.s.batchID.Add(1), 36)
		out = c.serialized(ircmsg.MakeMessage(map[string]string{"label": rb.label}, server, "BATCH", "+"+rb.batchID, "labeled-response"))
	}
	for _, line := range lines {
		out = append(out, c.withTag(line, "batch", rb.batchID))
	}
	if final {
		out = append(out, c.serialized(ircmsg.MakeMessage(nil, server, "BATCH", "-"+rb.batchID))...)
	}
	return out
}

func (c *Client) serialized(msg ircmsg.Message) [][]byte {
	if line := serialize(msg, c.log); line != nil {
		return [][]byte{line}
	}
	return nil
}

// withTag is line with one more tag. A line already in a batch (a history replay nested in
// the labeled-response batch) keeps its own batch tag: its BATCH + line carries the outer one.
func (c *Client) withTag(line []byte, name, value string) []byte {
	msg, err := ircmsg.ParseLine(string(line))
	if err != nil {
		return line
	}
	if name == "batch" && msg.HasTag("batch") {
		return line
	}
	msg.SetTag(name, value)
	if tagged := serialize(msg, c.log); tagged != nil {
		return tagged
	}
	return line
}
