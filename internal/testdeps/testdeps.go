// Package testdeps decides what a test does when something it needs from outside Go (a
// program, a Debian package, the local Directus) is missing: with CI=true the test fails,
// because CI must run every test; elsewhere it is skipped with the reason.
package testdeps

import (
	"os"
	"os/exec"
	"testing"
)

// Require fails (CI=true) or skips the test unless ok; missing says what is missing and how
// to install it.
func Require(t testing.TB, ok bool, missing string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(missing + " (CI=true, so this fails instead of skipping)")
	}
	t.Skip(missing)
}

// Program returns the path of the named program, or fails or skips the test (see Require).
func Program(t testing.TB, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	Require(t, err == nil, name+" is not installed: "+install)
	return path
}
