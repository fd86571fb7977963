// Package version says which build of directus-ircd is running: the version and commit
// stamped at build time, or else what the Go toolchain recorded in the binary.
//
// The Makefile and the Dockerfile stamp both with
//
//	-ldflags "-X github.com/directus-ircd/directus-ircd/internal/version.version=v1.2.3
//	          -X github.com/directus-ircd/directus-ircd/internal/version.commit=0123abc"
//
// A plain `go build` or `go install` stamps nothing; the module build info then supplies the
// commit (vcs.revision, with vcs.modified marking a dirty tree) and, for `go install
// module@v1.2.3`, the module version.
package version

import (
	"regexp"
	"runtime"
	"runtime/debug"
	"sync"
)

// Set by -ldflags -X at build time; empty when the build did not stamp them.
var (
	version string
	commit  string
)

// pseudoVersion matches the timestamp-revision tail of a Go pseudo-version
// (v0.0.0-20260102150405-0123456789ab, v1.2.4-0.20260102150405-0123456789ab).
var pseudoVersion = regexp.MustCompile(`[-.][0-9]{14}-[0-9a-f]{12}(\+dirty)?$`)

// devVersion is the version of an unstamped build from a source tree.
const devVersion = "0.1.0-dev"

// Info is one build's identity.
type Info struct {
	Version   string // e.g. "v1.2.3", "v1.2.3-4-g0123abc-dirty", or "0.1.0-dev"
	Commit    string // full or short revision, "+dirty" when built from a modified tree; "" if unknown
	GoVersion string // e.g. "go1.26.8"
}

var get = sync.OnceValue(func() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, commit, bi)
})

// Get returns this binary's build identity.
func Get() Info { return get() }

// resolve prefers the stamped values and fills what is missing from the build info.
func resolve(stampedVersion, stampedCommit string, bi *debug.BuildInfo) Info {
	info := Info{Version: stampedVersion, Commit: stampedCommit, GoVersion: runtime.Version()}
	if bi == nil {
		if info.Version == "" {
			info.Version = devVersion
		}
		return info
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	if info.Commit == "" {
		var rev string
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" && modified {
			rev += "+dirty"
		}
		info.Commit = rev
	}
	if info.Version == "" {
		// "(devel)" without VCS information; a tag for `go install m@v1.2.3` or a build at a
		// tagged commit; since Go 1.24 a pseudo-version otherwise, which says no more than
		// Commit does.
		if v := bi.Main.Version; v != "" && v != "(devel)" && !pseudoVersion.MatchString(v) {
			info.Version = v
		} else {
			info.Version = devVersion
		}
	}
	return info
}

// String is the one-line form used by `directus-ircd version` and the start-up log:
// "directus-ircd v1.2.3 (commit 0123abc, go1.26.8)".
func (i Info) String() string {
	commit := i.Commit
	if commit == "" {
		commit = "unknown"
	}
	return "directus-ircd " + i.Version + " (commit " + commit + ", " + i.GoVersion + ")"
}

// IRC is the version token for RPL_YOURHOST and the VERSION reply: "directus-ircd-v1.2.3".
func (i Info) IRC() string { return "directus-ircd-" + i.Version }
