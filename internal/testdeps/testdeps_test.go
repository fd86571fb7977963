package testdeps

import (
	"testing"
)

// fakeT records what Require does instead of stopping the goroutine.
type fakeT struct {
	testing.TB
	failed, skipped string
}

func (f *fakeT) Helper()           {}
func (f *fakeT) Fatal(args ...any) { f.failed = args[0].(string); panic(f) }
func (f *fakeT) Skip(args ...any)  { f.skipped = args[0].(string); panic(f) }
func run(f *fakeT, fn func(t testing.TB)) {
	defer func() {
		if r := recover(); r != nil && r != f {
			panic(r)
		}
	}()
	fn(f)
}

func TestRequire(t *testing.T) {
	tests := []struct {
		name       string
		ci         string
		ok         bool
		fail, skip bool
	}{
		{"present", "true", true, false, false},
		{"missing under CI fails", "true", false, true, false},
		{"missing elsewhere skips", "", false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			f := &fakeT{}
			run(f, func(tb testing.TB) { Require(tb, tt.ok, "frobnicator is not installed") })
			if (f.failed != "") != tt.fail || (f.skipped != "") != tt.skip {
				t.Fatalf("failed=%q skipped=%q, want fail=%v skip=%v", f.failed, f.skipped, tt.fail, tt.skip)
			}
		})
	}
}

func TestProgramFindsAnInstalledProgram(t *testing.T) {
	t.Setenv("CI", "true")
	if p := Program(t, "sh", "it is part of every system"); p == "" {
		t.Fatal("no path for sh")
	}
}
