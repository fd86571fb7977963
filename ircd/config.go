package ircd

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ergochat/irc-go/ircutils"
)

// Config is the server's configuration. Zero fields take the defaults listed in withDefaults.
type Config struct {
	ServerName  string // e.g. "irc.directus.local", source of numerics
	Network     string // ISUPPORT NETWORK
	Channel     string // e.g. "#chat"
	Topic       string
	MOTD        []string // lines; empty -> 422
	Version     string
	DefaultHost string // host shown for clients whose Identity.Host is ""
	AutoJoin    bool   // join the channel right after registration

	MaxClients, MaxClientsPerIP int // 0: no limit

	RegistrationTimeout, PingInterval, PingTimeout time.Duration

	SendQueueLen int // lines per connection before "SendQ exceeded"
	// SendQueueBytes bounds the queue by size too (0: 1 KiB per line of SendQueueLen). A
	// client is dropped when a delivery finds its queue full; one that finds room is taken
	// whole, so one large delivery never drops a client.
	SendQueueBytes int
	FloodRate      float64 // lines/sec budget; fakelag, then "Excess Flood"; < 0 disables
	FloodBurst     int

	// History is how many recent channel messages a JOIN replays (0: none). Read once by
	// NewServer.
	History           int
	HistoryTimeFormat string // Go time layout for the "[...] " prefix on replay without server-time

	// MaxLines is the most lines one channel message takes on IRC, after splitting (default
	// 20, at least 2): a longer one is cut, its last line saying how much was left out and
	// that the whole message is FullTextAt.
	MaxLines int
	// FullTextAt says where a cut message can be read whole (default "on the web page").
	FullTextAt string

	// Additions to the brief's Config.

	// FloodMaxLag is how far behind a client may fall through fakelag (the sum of the delays
	// of one uninterrupted run of over-budget lines) before it is dropped with "Excess Flood".
	FloodMaxLag time.Duration
	// WriteTimeout bounds one write to a client; a client that does not take its data in time
	// is dropped.
	WriteTimeout time.Duration

	// Metrics receives the server's counters (NewMetrics); nil records nothing. Read once by
	// NewServer.
	Metrics *Metrics
}

// Protocol limits, advertised in RPL_ISUPPORT.
const (
	maxLineLen   = 512  // bytes of a line without tags, including CR LF
	maxTagsLen   = 8191 // bytes of the tag section, including '@' and the space
	nickLen      = 32
	channelLen   = 64
	topicLen     = 390
	awayLen      = 200
	kickLen      = 255
	userLen      = 20
	hostLen      = 64
	realnameLen  = 200
	maxTargets   = 4
	saslMaxBytes = 8192 // decoded AUTHENTICATE payload
	maxSASLTries = 3
)

// withDefaults returns cfg with empty fields filled in.
func withDefaults(cfg Config) Config {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defDur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	cfg.ServerName = strings.ReplaceAll(strings.TrimSpace(cfg.ServerName), " ", "-")
	def(&cfg.ServerName, "irc.directus.local")
	def(&cfg.Network, "Directus")
	def(&cfg.Channel, "#chat")
	def(&cfg.Version, "directus-ircd")
	def(&cfg.DefaultHost, cfg.ServerName)
	defDur(&cfg.RegistrationTimeout, 60*time.Second)
	defDur(&cfg.PingInterval, 120*time.Second)
	defDur(&cfg.PingTimeout, 60*time.Second)
	defDur(&cfg.FloodMaxLag, 20*time.Second)
	defDur(&cfg.WriteTimeout, 30*time.Second)
	if cfg.SendQueueLen <= 0 {
		cfg.SendQueueLen = 1024
	}
	if cfg.SendQueueBytes <= 0 {
		cfg.SendQueueBytes = cfg.SendQueueLen << 10
	}
	if cfg.MaxLines <= 0 {
		cfg.MaxLines = 20
	}
	cfg.MaxLines = max(cfg.MaxLines, 2)
	def(&cfg.FullTextAt, "on the web page")
	cfg.FullTextAt = ircutils.SanitizeText(cfg.FullTextAt, maxLineLen)
	if cfg.FloodRate == 0 {
		cfg.FloodRate = 2
	}
	if cfg.FloodBurst <= 0 {
		cfg.FloodBurst = 20
	}
	cfg.Topic = ircutils.SanitizeText(cfg.Topic, topicLen)
	cfg.MOTD = slices.Clone(cfg.MOTD)
	for i, line := range cfg.MOTD {
		cfg.MOTD[i] = ircutils.SanitizeText(line, maxLineLen)
	}
	return cfg
}

// isupportTokens is the RPL_ISUPPORT list for cfg.
func isupportTokens(cfg *Config) []string {
	n := strconv.Itoa
	t := n(maxTargets)
	targmax := "TARGMAX=JOIN:" + t + ",PART:1,NAMES:1,LIST:1,WHOIS:1,PRIVMSG:" + t + ",NOTICE:" + t + ",TAGMSG:" + t
	return []string{
		"AWAYLEN=" + n(awayLen),
		"CASEMAPPING=ascii",
		"CHANLIMIT=#:1",
		"CHANMODES=,,,nt",
		"CHANNELLEN=" + n(channelLen),
		"CHANTYPES=#",
		"CHATHISTORY=" + n(maxHistoryLimit),
		"HOSTLEN=" + n(hostLen),
		"KICKLEN=" + n(kickLen),
		"MAXTARGETS=" + n(maxTargets),
		"MODES=1",
		"MSGREFTYPES=msgid,timestamp",
		"NETWORK=" + isupportEscape(cfg.Network),
		"NICKLEN=" + n(nickLen),
		"PREFIX=",
		"SAFELIST",
		targmax,
		"TOPICLEN=" + n(topicLen),
		"USERLEN=" + n(userLen),
		"UTF8ONLY",
		"WHOX",
	}
}

// isupportEscape escapes an ISUPPORT value (\x20 for space, \x5C for backslash, \x3D for =).
func isupportEscape(v string) string {
	return strings.NewReplacer(`\`, `\x5C`, " ", `\x20`, "=", `\x3D`).Replace(v)
}
