package provision

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteConfigToken(t *testing.T) {
	const existing = `# directus-ircd configuration
listen: 127.0.0.1:6667 # plain IRC

directus:
  # where Directus runs
  url: http://old.example:8055
  token: old-token # replace me
  collection: messages
irc:
  channel: "#chat"
`
	tests := []struct {
		name, before string
		want         []string
	}{
		{"existing", existing, []string{"# directus-ircd configuration", "listen: 127.0.0.1:6667 # plain IRC",
			"  # where Directus runs", "  url: http://127.0.0.1:8055", "  token: new-token # replace me",
			"  collection: messages", "irc:", `  channel: "#chat"`}},
		{"no directus section", "listen: :6667\n", []string{"listen: :6667", "directus:", "  url: http://127.0.0.1:8055", "  token: new-token"}},
		{"empty directus section", "directus:\nlisten: :6667\n", []string{"directus:\n  url: http://127.0.0.1:8055\n  token: new-token", "listen: :6667"}},
		{"missing file", "", []string{"directus:\n  url: http://127.0.0.1:8055\n  token: new-token\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			if tt.before != "" {
				if err := os.WriteFile(path, []byte(tt.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteConfigToken(path, "http://127.0.0.1:8055", "new-token"); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(path)
			for _, w := range tt.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("missing %q in:\n%s", w, b)
				}
			}
			if strings.Contains(string(b), "old") {
				t.Errorf("old values kept:\n%s", b)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", fi.Mode().Perm())
			}
		})
	}
}

func TestWriteConfigTokenRejectsNonMapping(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	for _, content := range []string{"- a\n- b\n", "directus: 5\n"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := WriteConfigToken(path, "http://x", "tok"); err == nil {
			t.Errorf("%q: no error", content)
		}
		if b, _ := os.ReadFile(path); string(b) != content {
			t.Errorf("file changed to %q", b)
		}
	}
}
