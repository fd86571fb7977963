package version

import (
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := func(main string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: main}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	tests := []struct {
		name            string
		stampV, stampC  string
		bi              *debug.BuildInfo
		version, commit string
	}{
		{"stamped wins", "v1.2.3", "abc1234", vcs("v0.0.0-20260102150405-0123456789ab", "vcs.revision", "0123456789abcdef"), "v1.2.3", "abc1234"},
		{"stamped version, commit from vcs", "v1.2.3", "", vcs("(devel)", "vcs.revision", "0123456789abcdef"), "v1.2.3", "0123456789abcdef"},
		{"unstamped clean tree", "", "", vcs("v0.0.0-20260102150405-0123456789ab", "vcs.revision", "0123456789abcdef", "vcs.modified", "false"), devVersion, "0123456789abcdef"},
		{"unstamped dirty tree", "", "", vcs("v0.0.0-20260102150405-0123456789ab+dirty", "vcs.revision", "0123456789abcdef", "vcs.modified", "true"), devVersion, "0123456789abcdef+dirty"},
		{"pseudo-version after a tag", "", "", vcs("v1.2.4-0.20260102150405-0123456789ab", "vcs.revision", "0123456789abcdef"), devVersion, "0123456789abcdef"},
		{"go install at a tag", "", "", vcs("v1.2.3"), "v1.2.3", ""},
		{"no vcs information", "", "", vcs("(devel)"), devVersion, ""},
		{"no build info", "", "", nil, devVersion, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.stampV, tt.stampC, tt.bi)
			if got.Version != tt.version || got.Commit != tt.commit || got.GoVersion == "" {
				t.Fatalf("resolve = %+v, want version %q commit %q", got, tt.version, tt.commit)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	i := Info{Version: "v1.2.3", Commit: "abc1234", GoVersion: "go1.26.1"}
	if got, want := i.String(), "directus-ircd v1.2.3 (commit abc1234, go1.26.1)"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got, want := i.IRC(), "directus-ircd-v1.2.3"; got != want {
		t.Errorf("IRC = %q, want %q", got, want)
	}
	if got := (Info{Version: "v1", GoVersion: "go1.26.1"}).String(); got != "directus-ircd v1 (commit unknown, go1.26.1)" {
		t.Errorf("String without commit = %q", got)
	}
}
