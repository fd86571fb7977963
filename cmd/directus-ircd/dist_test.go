package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/directus-ircd/directus-ircd/internal/testdeps"
)

// make dist, as a release is built: one static binary per platform for the right CPU, a
// SHA256SUMS that sha256sum accepts, and the version given to make stamped in the binary.
func TestMakeDist(t *testing.T) {
	mk := testdeps.Program(t, "make", "apt-get install make")
	dir := t.TempDir()
	cmd := exec.Command(mk, "-s", "dist", "DIST="+dir, "VERSION=v7.7.7-test", "COMMIT=feedface")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make dist: %v\n%s", err, out)
	}
	for name, machine := range map[string]elf.Machine{
		"directus-ircd-linux-amd64": elf.EM_X86_64,
		"directus-ircd-linux-arm64": elf.EM_AARCH64,
	} {
		f, err := elf.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if f.Machine != machine {
			t.Errorf("%s is for %v, want %v", name, f.Machine, machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked", name)
			}
		}
		f.Close()
	}
	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil || strings.Count(string(sums), "\n") != 2 {
		t.Fatalf("SHA256SUMS: %v %q", err, sums)
	}
	check := exec.Command("sha256sum", "-c", "SHA256SUMS")
	check.Dir = dir
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	}
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		v, err := exec.Command(filepath.Join(dir, "directus-ircd-linux-amd64"), "version").Output()
		if err != nil || !strings.HasPrefix(string(v), "directus-ircd v7.7.7-test (commit feedface, go1.") {
			t.Fatalf("version of the release binary: %v %q", err, v)
		}
	}
}
