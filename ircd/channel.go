package ircd

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircutils"
)

// joinState is a connection's membership of the channel.
type joinState uint8

const (
	notJoined joinState = iota
	joining             // Backend.Join is running; channel traffic is held for it
	joined
)

// isChannel reports whether name is the server's channel.
func (s *Server) isChannel(name string) bool {
	return Casefold(name) == Casefold(s.cfg().Channel)
}

// noSuchChannel answers 403 for any channel but ours.
func (c *Client) noSuchChannel(name string) {
	c.numeric(errNoSuchChannel, name, "No such channel; this server has only "+c.s.cfg().Channel)
}

func handleJOIN(c *Client, msg *ircmsg.Message) {
	if msg.Params[0] == "0" {
		c.part("Left all channels")
		return
	}
	names := strings.Split(msg.Params[0], ",")
	if len(names) > maxTargets {
		c.numeric(errTooManyTargets, msg.Params[0], "Too many targets")
		return
	}
	for _, name := range names {
		switch {
		case name == "":
		case !c.s.isChannel(name):
			c.noSuchChannel(name)
		default:
			c.join()
		}
	}
}

// join joins the channel: Backend.Join decides, then the client gets the JOIN, topic, NAMES
// and the replay, then what was said meanwhile. The replay is copied under the same lock as
// the switch to joined; what was delivered while Backend.Join ran was held, and is dropped
// by msgid when the replay has it.
func (c *Client) join() {
	s := c.s
	c.qmu.Lock()
	c.holding = true // from now on deliveries wait until the replies below are queued
	c.qmu.Unlock()
	s.mu.Lock()
	if c.joinState != notJoined {
		s.mu.Unlock()
		c.releaseHeld(nil)
		return
	}
	c.joinState = joining
	s.addMemberLocked(c)
	s.mu.Unlock()

	if err := s.backend.Join(c.ctx, c); err != nil {
		s.mu.Lock()
		s.removeMemberLocked(c)
		c.joinState = notJoined
		s.mu.Unlock()
		c.dropHeld()
		c.log.Info().AnErr("cause", err).Msg("join refused")
		c.numeric(errBannedFromChan, s.cfg().Channel, "Cannot join channel: "+UserText(err))
		return
	}

	s.mu.Lock()
	c.joinState = joined
	s.countJoinLocked(c.u)
	joinMsg := s.joinVariants(c.u)
	if c.u.joined == 1 {
		s.sendJoinedLocked(joinMsg, c)
		if c.u.away != "" { // away-notify: a user who joins while away is announced as away
			s.sendJoinedLocked(capVariant(capAwayNotify, ircmsg.MakeMessage(nil, c.u.prefix(), "AWAY", c.u.away), s), c)
		}
	}
	echo := joinMsg.get(c)
	names := s.namesLocked(c.hasCap(capUserhostInNames))
	topic, topicBy, topicTime := s.topic, s.topicBy, s.topicTime
	var history []Message
	if !c.hasCap(capChathistory) { // it asks for history itself (CHATHISTORY), as with ergo
		history = s.replay.copyLocked()
	}
	if len(history) > 0 {
		c.qmu.Lock()
		c.replayedLast = history[len(history)-1].ID
		c.qmu.Unlock()
	}
	s.mu.Unlock()

	c.replyLines(echo...)
	cfg := s.cfg()
	if topic != "" {
		c.numeric(rplTopic, cfg.Channel, topic)
		c.numeric(rplTopicWhoTime, cfg.Channel, topicBy, strconv.FormatInt(topicTime.Unix(), 10))
	}
	c.sendNames(names)
	seen := c.replayHistory(history)
	c.releaseHeld(seen)
}

// joinVariants is u's JOIN line, plain and extended-join.
func (s *Server) joinVariants(u *user) *variants {
	channel := s.cfg().Channel
	return newVariants(capExtendedJoin, func(v capSet) [][]byte {
		msg := ircmsg.MakeMessage(nil, u.prefix(), "JOIN", channel)
		if v.has(capExtendedJoin) {
			msg.Params = append(msg.Params, token(u.account), u.realname)
		}
		return [][]byte{serialize(msg, s.log)}
	})
}

// releaseHeld queues what was held during the JOIN, leaving out messages whose msgid the history
// replay already had, and stops holding.
func (c *Client) releaseHeld(seen map[string]bool) {
	for {
		c.qmu.Lock()
		held := c.held
		c.held, c.heldBytes = nil, 0
		if len(held) == 0 {
			c.holding = false
			c.qmu.Unlock()
			return
		}
		c.qmu.Unlock()
		c.flushReplies(false) // the JOIN's replies go before what others said meanwhile
		for _, h := range held {
			if h.id == "" || !seen[h.id] {
				c.queueReplies(h.lines...)
			}
		}
	}
}

func (c *Client) dropHeld() {
	c.qmu.Lock()
	c.held, c.heldBytes, c.holding = nil, 0, false
	c.qmu.Unlock()
}

// addMemberLocked makes c a recipient of channel traffic.
func (s *Server) addMemberLocked(c *Client) {
	c.memberIdx = len(s.members)
	s.members = append(s.members, c)
}

func (s *Server) removeMemberLocked(c *Client) {
	last := len(s.members) - 1
	moved := s.members[last]
	s.members[c.memberIdx] = moved
	moved.memberIdx = c.memberIdx
	s.members[last] = nil
	s.members = s.members[:last]
}

// sendJoinedLocked delivers a membership event to every joined connection except `except`.
func (s *Server) sendJoinedLocked(vs *variants, except *Client) {
	fanOut(s.members, vs, "", func(m *Client) bool { return m == except || m.joinState != joined })
}

// sendUserLocked delivers an event about u to u's connections and, when u is on the channel, to
// the joined connections, each once; only to those whose capabilities give it lines.
func (s *Server) sendUserLocked(u *user, vs *variants, except *Client) {
	if u.joined > 0 {
		s.sendJoinedLocked(vs, except)
	}
	for _, c := range u.conns {
		if c != except && (u.joined == 0 || c.joinState != joined) {
			c.enqueue(vs.get(c), "", true)
		}
	}
}

// leaveLocked takes c off the channel. When it was the last of its user's connections there,
// the others see msgFor(user) (PART or QUIT), unless msgFor is nil.
func (s *Server) leaveLocked(c *Client, msgFor func(*user) ircmsg.Message) {
	was := c.joinState
	s.removeMemberLocked(c)
	c.joinState = notJoined
	if was != joined {
		return
	}
	s.countPartLocked(c.u)
	if c.u.joined == 0 && msgFor != nil {
		s.sendJoinedLocked(plainVariant(msgFor(c.u), s), c)
	}
}

func handlePART(c *Client, msg *ircmsg.Message) {
	reason := ""
	if len(msg.Params) > 1 {
		reason = ircutils.SanitizeText(msg.Params[1], kickLen)
	}
	for _, name := range strings.Split(msg.Params[0], ",") {
		if !c.s.isChannel(name) {
			c.noSuchChannel(name)
			continue
		}
		if !c.part(reason) {
			c.numeric(errNotOnChannel, name, "You're not on that channel")
		}
	}
}

// part leaves the channel; it reports false when the client was not on it.
func (c *Client) part(reason string) bool {
	s := c.s
	channel := s.cfg().Channel
	partMsg := func(u *user) ircmsg.Message {
		if reason == "" {
			return ircmsg.MakeMessage(nil, u.prefix(), "PART", channel)
		}
		return ircmsg.MakeMessage(nil, u.prefix(), "PART", channel, reason)
	}
	s.mu.Lock()
	if c.joinState != joined {
		s.mu.Unlock()
		return false
	}
	s.leaveLocked(c, partMsg)
	echo := partMsg(c.u)
	s.mu.Unlock()
	c.send(echo)
	return true
}

// namesLocked lists the nicks on the channel (each once), as nick or nick!user@host, in
// casefolded order.
func (s *Server) namesLocked(userhost bool) []string {
	names := make([]string, len(s.onChannel))
	for i, u := range s.onChannel {
		if userhost {
			names[i] = u.prefix()
		} else {
			names[i] = u.nick
		}
	}
	return names
}

// countJoinLocked counts one more of u's connections on the channel; with the first, u is on it.
// onChannel is kept in order as users come and go, so that NAMES needs no sort: a JOIN storm
// of N clients would otherwise sort up to N nicks N times.
func (s *Server) countJoinLocked(u *user) {
	u.joined++
	if u.joined == 1 {
		s.addOnChannelLocked(u)
	}
}

// countPartLocked counts one fewer of u's connections on the channel; with the last, u is off.
func (s *Server) countPartLocked(u *user) {
	u.joined--
	if u.joined == 0 {
		s.dropOnChannelLocked(u)
	}
}

// renameUserLocked changes u's nick, keeping onChannel in order.
func (s *Server) renameUserLocked(u *user, nick, folded string) {
	on := u.joined > 0
	if on {
		s.dropOnChannelLocked(u)
	}
	u.nick, u.folded = nick, folded
	if on {
		s.addOnChannelLocked(u)
	}
}

func (s *Server) addOnChannelLocked(u *user) {
	i, _ := s.onChannelIndexLocked(u.folded)
	s.onChannel = slices.Insert(s.onChannel, i, u)
}

func (s *Server) dropOnChannelLocked(u *user) {
	if i, found := s.onChannelIndexLocked(u.folded); found {
		s.onChannel = slices.Delete(s.onChannel, i, i+1)
	}
}

func (s *Server) onChannelIndexLocked(folded string) (int, bool) {
	return slices.BinarySearchFunc(s.onChannel, folded, func(u *user, f string) int {
		return strings.Compare(u.folded, f)
	})
}

// sendNames sends 353 lines packed up to the line limit, then 366.
func (c *Client) sendNames(names []string) {
	channel := c.s.cfg().Channel
	budget := lineBudget(c.s.cfg().ServerName, rplNamReply, c.target()+" = "+channel, false)
	var line strings.Builder
	for _, name := range names {
		if line.Len() > 0 && line.Len()+1+len(name) > budget {
			c.numeric(rplNamReply, "=", channel, line.String())
			line.Reset()
		}
		if line.Len() > 0 {
			line.WriteByte(' ')
		}
		line.WriteString(name)
	}
	if line.Len() > 0 {
		c.numeric(rplNamReply, "=", channel, line.String())
	}
	c.numeric(rplEndOfNames, channel, "End of /NAMES list")
}

func handleNAMES(c *Client, msg *ircmsg.Message) {
	if len(msg.Params) > 0 && msg.Params[0] != "" && !c.s.isChannel(msg.Params[0]) {
		c.numeric(rplEndOfNames, msg.Params[0], "End of /NAMES list")
		return
	}
	c.s.mu.RLock()
	names := c.s.namesLocked(c.hasCap(capUserhostInNames))
	c.s.mu.RUnlock()
	c.sendNames(names)
}

func handleTOPIC(c *Client, msg *ircmsg.Message) {
	s := c.s
	channel := s.cfg().Channel
	if !s.isChannel(msg.Params[0]) {
		c.noSuchChannel(msg.Params[0])
		return
	}
	if len(msg.Params) > 1 {
		c.numeric(errChanOPrivsNeeded, channel, "The topic is set by the server's configuration")
		return
	}
	s.mu.RLock()
	topic, by, at := s.topic, s.topicBy, s.topicTime
	s.mu.RUnlock()
	if topic == "" {
		c.numeric(rplNoTopic, channel, "No topic is set")
		return
	}
	c.numeric(rplTopic, channel, topic)
	c.numeric(rplTopicWhoTime, channel, by, strconv.FormatInt(at.Unix(), 10))
}

// setTopic changes the topic as the server and tells the channel.
func (s *Server) setTopic(topic string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg := s.cfg()
	s.topic, s.topicBy, s.topicTime = topic, cfg.ServerName, time.Now()
	s.sendJoinedLocked(plainVariant(ircmsg.MakeMessage(nil, cfg.ServerName, "TOPIC", cfg.Channel, ircutils.SanitizeText(topic, maxLineLen)), s), nil)
}

func handleLIST(c *Client, msg *ircmsg.Message) {
	s := c.s
	cfg := s.cfg()
	c.numeric(rplListStart, "Channel", "Users  Name")
	if len(msg.Params) == 0 || slices.ContainsFunc(strings.Split(msg.Params[0], ","), s.isChannel) ||
		strings.ContainsAny(msg.Params[0], "*?<>") {
		s.mu.RLock()
		count := len(s.onChannel)
		topic := s.topic
		s.mu.RUnlock()
		c.numeric(rplList, cfg.Channel, strconv.Itoa(count), topic)
	}
	c.numeric(rplListEnd, "End of /LIST")
}
