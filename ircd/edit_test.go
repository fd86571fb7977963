package ircd

import (
	"strings"
	"testing"
)

func TestOneLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{"first\nPRIVMSG #chat :evil", `"first" (and 1 more line)`},
		{"\r\n  \nfirst  line\r\nb\rc", `"first line" (and 2 more lines)`},
		{"", `""`},
		{strings.Repeat("é", 150), `"` + strings.Repeat("é", 100) + `…"`},
	}
	for _, tt := range tests {
		if got := oneLine(tt.in, noticeExcerpt); got != tt.want {
			t.Errorf("oneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
