package ircd

import (
	"strconv"
	"strings"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircutils"
)

// draft/multiline limits, advertised in the capability's value.
const (
	multilineMaxBytes = 4096 // bytes of text in one batch, line breaks included
	multilineMaxLines = 20   // lines in one batch (a batch is one stored message)
	multilineCapValue = "max-bytes=4096,max-lines=20"
	multilineBatch    = "draft/multiline"
	multilineConcat   = "draft/multiline-concat"
)

// multiline is a client's open draft/multiline batch (reader goroutine only).
type multiline struct {
	id      string
	target  string
	command string // PRIVMSG or NOTICE, from the first line
	text    strings.Builder
	lines   int
	tags    map[string]string // client-only tags of the BATCH line
	label   string            // labeled-response: the BATCH + line's label, for the reply at the end
	err     string            // the first problem: the batch is refused at its end
}

// handleBATCH opens (+id draft/multiline target) or closes (-id) a client's multiline batch.
func handleBATCH(c *Client, msg *ircmsg.Message) {
	ref := msg.Params[0]
	switch {
	case strings.HasPrefix(ref, "+") && len(ref) > 1:
		if len(msg.Params) < 3 || msg.Params[1] != multilineBatch || !c.hasCap(capMultiline) {
			c.batchFail("MULTILINE_INVALID", "Only draft/multiline batches with a target are accepted")
			return
		}
		if c.ml != nil {
			c.batchFail("MULTILINE_INVALID", "A multiline batch is already open")
			return
		}
		c.ml = &multiline{id: ref[1:], target: msg.Params[2], label: c.takeLabel()}
		if c.hasCap(capMessageTags) {
			c.ml.tags = fitClientTags(msg.ClientOnlyTags())
		}
	case strings.HasPrefix(ref, "-") && c.ml != nil && ref[1:] == c.ml.id:
		ml := c.ml
		c.ml = nil
		c.useLabel(ml.label)
		c.finishMultiline(ml)
	default:
		c.batchFail("MULTILINE_INVALID", "No such batch is open")
	}
}

// multilineLine takes a PRIVMSG or NOTICE tagged with the open batch's id into the batch; it
// reports false for a line that is not part of it.
func (c *Client) multilineLine(msg *ircmsg.Message) bool {
	ml := c.ml
	if ml == nil {
		return false
	}
	if ok, id := msg.GetTag("batch"); !ok || id != ml.id {
		return false
	}
	switch {
	case ml.err != "":
	case msg.Command != "PRIVMSG" && msg.Command != "NOTICE":
		ml.err = "MULTILINE_INVALID"
	case len(msg.Params) < 2 || !strings.EqualFold(msg.Params[0], ml.target):
		ml.err = "MULTILINE_INVALID_TARGET"
	case ml.command != "" && msg.Command != ml.command:
		ml.err = "MULTILINE_INVALID"
	default:
		ml.command = msg.Command
		concat, _ := msg.GetTag(multilineConcat)
		if ml.lines > 0 && !concat {
			ml.text.WriteByte('\n')
		}
		ml.text.WriteString(msg.Params[1])
		ml.lines++
		switch {
		case ml.lines > multilineMaxLines:
			ml.err = "MULTILINE_MAX_LINES"
		case ml.text.Len() > multilineMaxBytes:
			ml.err = "MULTILINE_MAX_BYTES"
		}
	}
	return true
}

// finishMultiline sends a closed batch on as one channel message.
func (c *Client) finishMultiline(ml *multiline) {
	text := ml.text.String()
	switch {
	case ml.err == "" && strings.TrimSpace(text) == "":
		ml.err = "MULTILINE_INVALID"
	case ml.err == "" && !c.s.isChannel(ml.target):
		ml.err = "MULTILINE_INVALID_TARGET"
	}
	if ml.err != "" {
		limits := map[string]string{
			"MULTILINE_MAX_LINES":      "A multiline message takes at most " + strconv.Itoa(multilineMaxLines) + " lines",
			"MULTILINE_MAX_BYTES":      "A multiline message takes at most " + strconv.Itoa(multilineMaxBytes) + " bytes",
			"MULTILINE_INVALID_TARGET": "A multiline batch must go to " + c.s.cfg().Channel + ", every line to the batch's target",
		}
		text := limits[ml.err]
		if text == "" {
			text = "Invalid multiline batch: lines must all be PRIVMSG or all NOTICE, with some text"
		}
		c.batchFail(ml.err, text)
		return
	}
	c.messageChannel(ml.command, ml.target, text, ml.tags)
}

func (c *Client) batchFail(code, text string) {
	c.send(ircmsg.MakeMessage(nil, c.s.cfg().ServerName, "FAIL", "BATCH", code, ircutils.SanitizeText(text, maxLineLen)))
}

// mlPart is one line of a message sent as a multiline batch: concat marks a piece of a line
// too long for one IRC line, to be joined to the previous one without a line break.
type mlPart struct {
	text   string
	concat bool
}

// splitMultiline cuts text into the lines of a multiline batch: one per line of the text (blank
// ones left out, as in splitText), long lines in pieces of at most budget bytes.
func splitMultiline(text string, budget int) []mlPart {
	var out []mlPart
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		for i, piece := range splitText(line, budget, "") {
			out = append(out, mlPart{text: piece, concat: i > 0})
		}
	}
	return out
}

// multilineLines serialises cm as a draft/multiline batch for variant v: the msgid, time and
// account tags on the BATCH line, each line tagged with the batch.
func (cm *chanMessage) multilineLines(v capSet, log func(ircmsg.Message) []byte) [][]byte {
	m := cm.m
	budget := lineBudget(cm.source, cm.command, cm.target, false)
	parts := splitMultiline(m.Text, budget)
	if cm.cut.maxLines > 0 && len(parts) > cm.cut.maxLines {
		keep := cm.cut.maxLines - 1
		note := "[" + strconv.Itoa(len(parts)-keep) + " more lines not shown; read the whole message " + cm.cut.where + "]"
		parts = append(parts[:keep:keep], mlPart{text: note})
	}
	start := ircmsg.MakeMessage(nil, cm.source, "BATCH", "+"+cm.batch, multilineBatch, cm.target)
	cm.addTags(&start, v, true)
	msgs := []ircmsg.Message{start}
	for _, p := range parts {
		line := ircmsg.MakeMessage(map[string]string{"batch": cm.batch}, cm.source, cm.command, cm.target, p.text)
		if p.concat {
			line.SetTag(multilineConcat, "")
		}
		msgs = append(msgs, line)
	}
	msgs = append(msgs, ircmsg.MakeMessage(nil, cm.source, "BATCH", "-"+cm.batch))
	out := make([][]byte, 0, len(msgs))
	for _, msg := range msgs {
		if line := log(msg); line != nil {
			out = append(out, line)
		}
	}
	return out
}

// asMultiline says whether cm goes to variant v as a multiline batch: live traffic (not
// inside another batch) whose text has several lines, to a client with draft/multiline.
func (cm *chanMessage) asMultiline(v capSet, extra map[string]string) bool {
	return extra == nil && cm.batch != "" && v&(capMultiline|capBatch) == capMultiline|capBatch && !cm.m.Action
}
