package ircd

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ergochat/irc-go/ircmsg"
)

func TestSplitText(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		budget int
		prefix string
		want   []string
	}{
		{"short", "hello", 100, "", []string{"hello"}},
		{"empty", "", 100, "", nil},
		{"only breaks", "\r\n\n\r", 100, "", nil},
		{"crlf", "a\r\nb", 100, "", []string{"a", "b"}},
		{"lf", "a\nb", 100, "", []string{"a", "b"}},
		{"cr", "a\rb", 100, "", []string{"a", "b"}},
		{"lf cr is two breaks", "a\n\rb", 100, "", []string{"a", "b"}},
		{"blank lines dropped", "a\n\n \nb\n", 100, "", []string{"a", "b"}},
		{"nul and ctcp dropped", "a\x00b\x01c", 100, "", []string{"abc"}},
		{"invalid utf-8 replaced", "a\xffb", 100, "", []string{"a\uFFFDb"}},
		{"word boundary", strings.Repeat("abcd ", 10), 32, "", []string{
			"abcd abcd abcd abcd abcd abcd", "abcd abcd abcd abcd"}},
		{"long word hard cut", strings.Repeat("x", 70), 32, "", []string{
			strings.Repeat("x", 32), strings.Repeat("x", 32), strings.Repeat("x", 6)}},
		{"utf-8 boundary", strings.Repeat("é", 20), 33, "", []string{strings.Repeat("é", 16), strings.Repeat("é", 4)}},
		{"combining mark kept with base", strings.Repeat("a", 31) + "e\u0301z", 33, "", []string{strings.Repeat("a", 31), "e\u0301z"}},
		{"prefix on each line", "a\nb", 100, "[12:00] ", []string{"[12:00] a", "[12:00] b"}},
		{"tiny budget raised", "hello world", 1, "", []string{"hello world"}},
		{"leading spaces kept", "  indented", 100, "", []string{"  indented"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitText(tt.text, tt.budget, tt.prefix)
			if !slices.Equal(got, tt.want) {
				t.Errorf("splitText(%q, %d) = %q, want %q", tt.text, tt.budget, got, tt.want)
			}
			for _, part := range got {
				if len(part) > max(tt.budget, minTextBudget) || !utf8.ValidString(part) || strings.ContainsAny(part, "\x00\r\n\x01") {
					t.Errorf("bad part %q", part)
				}
			}
		})
	}
}

// TestSplitFitsLine checks that every split line, serialised with its prefix, fits 512 bytes.
func TestSplitFitsLine(t *testing.T) {
	source := "Someone_With_A_Long_Nick!someuser@some.very.long.host.name.example"
	for _, action := range []bool{false, true} {
		budget := lineBudget(source, "PRIVMSG", "#chat", action)
		text := strings.Repeat("Grüße, 世界! ", 200)
		parts := splitText(text, budget, "")
		for i, part := range parts {
			if action {
				part = "\x01ACTION " + part + "\x01"
			}
			msg := ircmsg.MakeMessage(nil, source, "PRIVMSG", "#chat", part)
			line, err := msg.LineBytesStrict(false, maxLineLen)
			if err != nil || len(line) > maxLineLen {
				t.Fatalf("line of %d bytes: %v", len(line), err)
			}
			if i < len(parts)-1 && len(line) < maxLineLen-20 && !strings.HasSuffix(strings.TrimRight(string(line), "\r\n\x01"), "!") {
				t.Errorf("line of %d bytes ends early: %q", len(line), line)
			}
		}
	}
}

func BenchmarkSplitText(b *testing.B) {
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 60) + "\nsecond line\r\nthird"
	budget := lineBudget("Alice!alice@users.test", "PRIVMSG", "#chat", false)
	b.ReportAllocs()
	for b.Loop() {
		splitText(text, budget, "")
	}
}
