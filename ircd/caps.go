package ircd

import (
	"strconv"
	"strings"

	"github.com/ergochat/irc-go/ircmsg"
)

// capSet is a set of IRCv3 capabilities, one bit each.
type capSet uint32

const (
	capAccountNotify capSet = 1 << iota
	capAccountTag
	capAwayNotify
	capBatch
	capCapNotify
	capEchoMessage
	capExtendedJoin
	capLabeledResponse
	capMessageTags
	capMultiPrefix
	capSASL
	capServerTime
	capSetname
	capStandardReplies
	capUserhostInNames
	capChathistory
	capRedaction
	capMultiline
)

// capability is one advertised capability.
type capability struct {
	name  string
	bit   capSet
	value string // value in CAP LS 302
}

// capabilities is everything the server implements, in the order advertised.
var capabilities = []capability{
	{"account-notify", capAccountNotify, ""},
	{"account-tag", capAccountTag, ""},
	{"away-notify", capAwayNotify, ""},
	{"batch", capBatch, ""},
	{"cap-notify", capCapNotify, ""},
	{"draft/chathistory", capChathistory, ""},
	{"draft/message-redaction", capRedaction, ""},
	{"draft/multiline", capMultiline, multilineCapValue},
	{"echo-message", capEchoMessage, ""},
	{"extended-join", capExtendedJoin, ""},
	{"labeled-response", capLabeledResponse, ""},
	{"message-tags", capMessageTags, ""},
	{"multi-prefix", capMultiPrefix, ""},
	{"sasl", capSASL, "PLAIN"},
	{"server-time", capServerTime, ""},
	{"setname", capSetname, ""},
	{"standard-replies", capStandardReplies, ""},
	{"userhost-in-names", capUserhostInNames, ""},
}

func (s capSet) has(c capSet) bool { return s&c != 0 }

func lookupCap(name string) (capability, bool) {
	for _, c := range capabilities {
		if c.name == name {
			return c, true
		}
	}
	return capability{}, false
}

// capNames lists the names in set, with LS 302 values when withValues.
func capNames(set capSet, withValues bool) []string {
	var out []string
	for _, c := range capabilities {
		if !set.has(c.bit) {
			continue
		}
		if withValues && c.value != "" {
			out = append(out, c.name+"="+c.value)
		} else {
			out = append(out, c.name)
		}
	}
	return out
}

var allCaps = func() (s capSet) {
	for _, c := range capabilities {
		s |= c.bit
	}
	return s
}()

// handleCAP implements CAP LS/LIST/REQ/END.
func handleCAP(c *Client, msg *ircmsg.Message) {
	sub := strings.ToUpper(msg.Params[0])
	switch sub {
	case "LS":
		c.reg.capNegotiating = !c.isRegistered()
		version := 0
		if len(msg.Params) > 1 {
			version, _ = strconv.Atoi(msg.Params[1])
		}
		if version >= 302 {
			c.reg.capVersion = 302
			c.addCaps(capCapNotify) // implied by CAP LS 302
		}
		c.sendCapList("LS", capNames(allCaps, c.reg.capVersion >= 302))
	case "LIST":
		c.sendCapList("LIST", capNames(c.caps(), false))
	case "REQ":
		if len(msg.Params) < 2 {
			c.numeric(errNeedMoreParams, "CAP", "Not enough parameters")
			return
		}
		c.reg.capNegotiating = !c.isRegistered()
		c.capReq(msg.Params[1])
	case "END":
		if c.isRegistered() {
			return
		}
		c.reg.capNegotiating = false
		if c.reg.saslActive {
			c.abortSASL()
		}
		c.tryRegister()
	default:
		c.numeric(errInvalidCapCmd, sub, "Invalid CAP subcommand")
	}
}

// capReq applies a CAP REQ list all-or-nothing.
func (c *Client) capReq(list string) {
	var add, del capSet
	for _, tok := range strings.Fields(list) {
		remove := strings.HasPrefix(tok, "-")
		capab, ok := lookupCap(strings.TrimPrefix(tok, "-"))
		if !ok || (remove && capab.bit == capCapNotify && c.reg.capVersion >= 302) {
			c.send(c.capMessage("NAK", list))
			return
		}
		if remove {
			del |= capab.bit
		} else {
			add |= capab.bit
		}
	}
	c.setCaps(add, del)
	c.send(c.capMessage("ACK", list))
}

// sendCapList sends CAP LS or LIST, split over several lines with "*" when long.
func (c *Client) sendCapList(sub string, names []string) {
	const budget = 400
	var line []string
	size := 0
	for i, name := range names {
		line = append(line, name)
		size += len(name) + 1
		last := i == len(names)-1
		if !last && size+len(names[i+1]) < budget {
			continue
		}
		if !last && c.reg.capVersion >= 302 {
			c.send(c.capMessage(sub, "*", strings.Join(line, " ")))
		} else {
			c.send(c.capMessage(sub, strings.Join(line, " ")))
		}
		line, size = nil, 0
	}
	if len(names) == 0 {
		c.send(c.capMessage(sub, ""))
	}
}

func (c *Client) capMessage(sub string, params ...string) ircmsg.Message {
	return ircmsg.MakeMessage(nil, c.s.cfg().ServerName, "CAP", append([]string{c.target(), sub}, params...)...)
}
