package ircd

import (
	"bytes"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/ergochat/irc-go/ircmsg"
)

// command is one entry of the command table: the checks in dispatch run once for all of them.
type command struct {
	handler   func(*Client, *ircmsg.Message)
	preReg    bool // allowed before registration completes
	minParams int
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"AUTHENTICATE": {handleAUTHENTICATE, true, 1},
		"AWAY":         {handleAWAY, false, 0},
		"BATCH":        {handleBATCH, false, 1},
		"CHATHISTORY":  {handleCHATHISTORY, false, 1},
		"CAP":          {handleCAP, true, 1},
		"INFO":         {handleINFO, false, 0},
		"ISON":         {handleISON, false, 1},
		"JOIN":         {handleJOIN, false, 1},
		"LIST":         {handleLIST, false, 0},
		"LUSERS":       {handleLUSERS, false, 0},
		"MODE":         {handleMODE, false, 1},
		"MOTD":         {handleMOTD, false, 0},
		"NAMES":        {handleNAMES, false, 0},
		"NICK":         {handleNICK, true, 0},
		"NOTICE":       {handleNOTICE, false, 0},
		"PART":         {handlePART, false, 1},
		"PASS":         {handlePASS, true, 1},
		"PING":         {handlePING, true, 0},
		"PONG":         {handlePONG, true, 0},
		"PRIVMSG":      {handlePRIVMSG, false, 0},
		"QUIT":         {handleQUIT, true, 0},
		"REDACT":       {handleREDACT, false, 2},
		"SETNAME":      {handleSETNAME, false, 1},
		"TAGMSG":       {handleTAGMSG, false, 1},
		"TIME":         {handleTIME, false, 0},
		"TOPIC":        {handleTOPIC, false, 1},
		"USER":         {handleUSER, true, 4},
		"USERHOST":     {handleUSERHOST, false, 1},
		"VERSION":      {handleVERSION, false, 0},
		"WHO":          {handleWHO, false, 1},
		"WHOIS":        {handleWHOIS, false, 1},
	}
}

// handleLine checks, parses and runs one line from the client.
func (c *Client) handleLine(line []byte) {
	if len(bytes.TrimLeft(line, " ")) == 0 {
		return
	}
	c.beginReplies()
	defer c.endReplies()
	msg, err := c.parseLine(string(line))
	switch {
	case errors.Is(err, ircmsg.ErrorBodyTooLong), errors.Is(err, ircmsg.ErrorTagsTooLong):
		c.numeric(errInputTooLong, "Input line too long")
		return
	case errors.Is(err, ircmsg.ErrorLineIsEmpty):
		return
	case errors.Is(err, ircmsg.ErrorLineContainsBadChar):
		c.fail("*", "INVALID_LINE", "Line ignored: it contains a NUL or CR character")
		return
	case err != nil:
		c.fail("*", "INVALID_LINE", "Line ignored: "+err.Error())
		return
	}
	c.labelReplies(&msg)
	if !utf8.Valid(line) && !c.acceptInvalidUTF8(&msg) {
		// UTF8ONLY: a FAIL whether or not the client asked for standard-replies.
		c.send(ircmsg.MakeMessage(nil, c.s.cfg().ServerName, "FAIL", token(msg.Command), "INVALID_UTF8",
			"Message ignored: it is not valid UTF-8 (this server is UTF-8 only)"))
		return
	}
	c.dispatch(&msg)
}

// acceptInvalidUTF8 lets NICK and USER with invalid UTF-8 through before registration, with
// the bad bytes replaced: ignoring them would leave the client waiting for the registration
// timeout. The NICK is then refused with 432, which clients answer with another nick.
func (c *Client) acceptInvalidUTF8(msg *ircmsg.Message) bool {
	if c.isRegistered() || msg.Command != "NICK" && msg.Command != "USER" {
		return false
	}
	for i, p := range msg.Params {
		msg.Params[i] = strings.ToValidUTF8(p, "\uFFFD")
	}
	return true
}

// dispatch runs a parsed command after the checks every command shares.
func (c *Client) dispatch(msg *ircmsg.Message) {
	c.log.Trace().Str("command", msg.Command).Int("params", len(msg.Params)).Msg("command") // never the parameters: PASS and AUTHENTICATE carry secrets
	cmd, ok := commands[msg.Command]
	switch {
	case !ok:
		c.numeric(errUnknownCommand, msg.Command, "Unknown command")
	case !cmd.preReg && !c.isRegistered():
		c.numeric(errNotRegistered, "You have not registered")
	case len(msg.Params) < cmd.minParams || cmd.minParams > 0 && msg.Params[0] == "":
		c.numeric(errNeedMoreParams, msg.Command, "Not enough parameters")
	case c.multilineLine(msg):
	default:
		cmd.handler(c, msg)
	}
}

// parseLine parses a line from the client within the limits: 510 bytes of body and, with
// message-tags, 8191 bytes of tags (irc-go checks both); without message-tags, tags count
// as body.
func (c *Client) parseLine(line string) (ircmsg.Message, error) {
	if line[0] == '@' && !c.hasCap(capMessageTags) && len(line) > maxLineLen-len("\r\n") {
		return ircmsg.Message{}, ircmsg.ErrorBodyTooLong
	}
	return ircmsg.ParseLineStrict(line, false, maxLineLen)
}
