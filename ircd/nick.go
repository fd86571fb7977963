package ircd

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircutils"
)

// Casefold folds a nick or channel name for comparison (CASEMAPPING=ascii).
func Casefold(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// validNick reports whether a client may ask for nick: RFC 2812 nick characters plus Unicode
// letters and digits, not starting with a digit or '-', at most nickLen bytes.
func validNick(nick string) bool {
	if nick == "" || len(nick) > nickLen || !utf8.ValidString(nick) {
		return false
	}
	for i, r := range nick {
		switch {
		case r < utf8.RuneSelf && ('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'):
		case strings.ContainsRune("[]\\`_^{|}", r):
		case r == '-' || '0' <= r && r <= '9':
			if i == 0 {
				return false
			}
		case r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)):
		default:
			return false
		}
	}
	return true
}

// safeNick is the looser check for nicks the backend forces: anything printable that cannot be
// mistaken for another part of a line (a source, a channel, a list or a mask).
func safeNick(nick string) bool {
	if nick == "" || len(nick) > nickLen || !utf8.ValidString(nick) {
		return false
	}
	if strings.ContainsAny(nick[:1], ":#&$+~%@") {
		return false
	}
	for _, r := range nick {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) || strings.ContainsRune(",*?!@.", r) {
			return false
		}
	}
	return true
}

// sourceNick makes a message author's name usable as the nick of a source: characters that
// would break the line or be read as another part of it become '_'.
func sourceNick(name string) string {
	if safeNick(name) {
		return name
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) || strings.ContainsRune(",*?!@.", r) {
			return '_'
		}
		return r
	}, strings.ToValidUTF8(name, "_"))
	if name == "" || strings.ContainsAny(name[:1], ":#&$+~%@") {
		name = "_" + name
	}
	return ircmsg.TruncateUTF8Safe(name, 4*nickLen)
}

// safeMaskPart reports whether s can be the user or host of a hostmask.
func safeMaskPart(s string) bool {
	for _, r := range s {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) || r == '!' || r == '@' {
			return false
		}
	}
	return len(s) <= hostLen && !strings.HasPrefix(s, ":")
}

// withSuffix makes nick end in suffix, shortening nick so the result fits nickLen.
func withSuffix(nick, suffix string) string {
	if strings.HasSuffix(Casefold(nick), Casefold(suffix)) {
		return nick
	}
	room := nickLen - len(suffix)
	if room < 1 {
		return nick
	}
	return ircmsg.TruncateUTF8Safe(nick, room) + suffix
}

// deriveUser makes a hostmask user name (ident) from an account or nick.
func deriveUser(from string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(from) {
		if b.Len() >= userLen-1 {
			break
		}
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "user"
	}
	return b.String()
}

// token makes s usable as a middle parameter (no spaces, not empty, no leading ':'): "*" for
// "", '_' for spaces.
func token(s string) string {
	s = strings.ReplaceAll(ircutils.SanitizeText(s, maxLineLen), " ", "_")
	if s == "" {
		return "*"
	}
	if s[0] == ':' {
		s = "_" + s
	}
	return s
}
