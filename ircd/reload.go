package ircd

import (
	"slices"
	"strconv"
)

// Reload applies the settings that are safe to change at run time: MOTD, topic (broadcast as a
// TOPIC from the server), version, default host (for new connections), auto-join, limits,
// timeouts, queue length, the cut of long messages, flood settings (for new connections) and the history time format.
// ServerName, Network and Channel need a restart; a change to them is reported and ignored.
// It returns a description of each change.
func (s *Server) Reload(cfg Config) []string {
	cfg = withDefaults(cfg)
	old := s.cfg()
	var changed []string
	note := func(name string, differs bool) {
		if differs {
			changed = append(changed, name)
		}
	}
	for name, pair := range map[string][2]string{
		"server name": {old.ServerName, cfg.ServerName},
		"network":     {old.Network, cfg.Network},
		"channel":     {old.Channel, cfg.Channel},
	} {
		if pair[0] != pair[1] {
			changed = append(changed, name+" not changed (needs a restart)")
		}
	}
	cfg.ServerName, cfg.Network, cfg.Channel = old.ServerName, old.Network, old.Channel
	slices.Sort(changed)

	note("motd", !slices.Equal(old.MOTD, cfg.MOTD))
	note("version", old.Version != cfg.Version)
	note("default host", old.DefaultHost != cfg.DefaultHost)
	note("auto-join", old.AutoJoin != cfg.AutoJoin)
	note("max clients "+strconv.Itoa(cfg.MaxClients), old.MaxClients != cfg.MaxClients)
	note("max clients per IP "+strconv.Itoa(cfg.MaxClientsPerIP), old.MaxClientsPerIP != cfg.MaxClientsPerIP)
	note("timeouts", old.RegistrationTimeout != cfg.RegistrationTimeout ||
		old.PingInterval != cfg.PingInterval || old.PingTimeout != cfg.PingTimeout || old.WriteTimeout != cfg.WriteTimeout)
	note("send queue "+strconv.Itoa(cfg.SendQueueLen), old.SendQueueLen != cfg.SendQueueLen || old.SendQueueBytes != cfg.SendQueueBytes)
	note("max lines "+strconv.Itoa(cfg.MaxLines), old.MaxLines != cfg.MaxLines || old.FullTextAt != cfg.FullTextAt)
	note("flood control", old.FloodRate != cfg.FloodRate || old.FloodBurst != cfg.FloodBurst || old.FloodMaxLag != cfg.FloodMaxLag)
	note("history time format", old.HistoryTimeFormat != cfg.HistoryTimeFormat)
	topicChanged := old.Topic != cfg.Topic
	note("topic", topicChanged)

	s.config.Store(&cfg)
	if topicChanged {
		s.setTopic(cfg.Topic)
	}
	return changed
}
