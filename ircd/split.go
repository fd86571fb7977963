package ircd

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// minTextBudget keeps splitting sensible when a source or prefix is absurdly long.
const minTextBudget = 32

// lineBudget is how many bytes of text fit in one ":source COMMAND target :text" line (with the
// CTCP ACTION framing when action) within the 512-byte limit.
func lineBudget(source, command, target string, action bool) int {
	n := maxLineLen - len("\r\n") - len(":") - len(source) - len(" ") - len(command) - len(" ") - len(target) - len(" :")
	if action {
		n -= len("\x01ACTION \x01")
	}
	return max(n, minTextBudget)
}

// textCleaner drops the bytes that must not reach a line: NUL, and \x01 which would frame CTCP.
var textCleaner = strings.NewReplacer("\x00", "", "\x01", "")

// splitText cuts text into IRC-safe pieces of at most budget bytes: first at line breaks ("\r\n",
// "\n" and "\r"), then at spaces, else at character boundaries. NUL and CTCP \x01 bytes are
// dropped and invalid UTF-8 replaced, so the text can never break out of its line. Blank lines
// are left out. linePrefix is put before every line of the text and counts against budget.
func splitText(text string, budget int, linePrefix string) []string {
	budget = max(budget, minTextBudget)
	text = strings.ToValidUTF8(textCleaner.Replace(text), "\uFFFD")
	var out []string
	for text != "" {
		line := text
		text = ""
		if end := strings.IndexAny(line, "\r\n"); end >= 0 {
			crlf := line[end] == '\r' && strings.HasPrefix(line[end+1:], "\n")
			line, text = line[:end], line[end+1:]
			if crlf {
				text = text[1:]
			}
		}
		if line = strings.TrimRight(line, " "); strings.TrimSpace(line) != "" {
			out = appendWrapped(out, linePrefix+line, budget)
		}
	}
	return out
}

// appendWrapped appends line cut into pieces of at most budget bytes, at a space when one is in
// the second half of the piece, else at a character boundary.
func appendWrapped(out []string, line string, budget int) []string {
	for len(line) > budget {
		cut := budget
		for cut > 0 && (!utf8.RuneStart(line[cut]) || isMarkAt(line, cut)) {
			cut-- // don't split a character or put a combining mark at the start of a line
		}
		if cut == 0 {
			cut = budget - 3
			for cut > 0 && !utf8.RuneStart(line[cut]) {
				cut--
			}
		}
		if sp := strings.LastIndexByte(line[:cut+1], ' '); sp > budget/2 {
			cut = sp
		}
		if piece := strings.TrimRight(line[:cut], " "); piece != "" {
			out = append(out, piece)
		}
		line = strings.TrimLeft(line[cut:], " ")
	}
	if line != "" {
		out = append(out, line)
	}
	return out
}

func isMarkAt(s string, i int) bool {
	r, _ := utf8.DecodeRuneInString(s[i:])
	return unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) || r == '\u200d'
}
