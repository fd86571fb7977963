package bridge

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// maxNickLen keeps derived nicks well inside every client's and the server's NICKLEN.
const maxNickLen = 24

// sanitizeNick turns a first name into an IRC nick: letters and digits kept (accents
// stripped), spaces dropped, only '-' and '_' besides (no characters that casemappings fold
// differently; '|' is reserved for the guest suffix). It returns "" when nothing usable is left.
func sanitizeNick(name string) string {
	var sb strings.Builder
	for _, r := range norm.NFD.String(name) {
		switch {
		case r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			sb.WriteRune(r)
		case r == '-' || r == '_':
			sb.WriteRune(r)
		}
		if sb.Len() >= maxNickLen {
			break
		}
	}
	s := strings.TrimLeft(sb.String(), "0123456789-")
	if len(s) > maxNickLen {
		s = s[:maxNickLen]
	}
	return s
}

// fallbackNick is the nick of a user without a usable first name: stable, from the user id.
func fallbackNick(userID string) string {
	return "user-" + shortID(userID)
}

// shortID is the first hex digits of a UUID, enough to tell namesakes apart.
func shortID(userID string) string {
	s := strings.ReplaceAll(userID, "-", "")
	if len(s) > 6 {
		s = s[:6]
	}
	return s
}
