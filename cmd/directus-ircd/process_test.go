package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// watched is a started process (the daemon, or make run) whose stderr lines are each passed
// to a check and can be waited for.
type watched struct {
	lines  chan string // every stderr line, until the buffer is full
	exited chan error  // the process's exit, once
}

// startWatched starts cmd; check (if non-nil) sees every stderr line, on another goroutine.
// Register the cleanup that kills cmd after calling it: cleanups run last-in first-out, and
// this one waits for the reader goroutine, so that check never runs after the test ended.
func startWatched(t *testing.T, cmd *exec.Cmd, check func(line string)) *watched {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &watched{lines: make(chan string, 1000), exited: make(chan error, 1)}
	done := make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if check != nil {
				check(sc.Text())
			}
			select {
			case w.lines <- sc.Text():
			default:
			}
		}
		w.exited <- cmd.Wait()
	}()
	return w
}

// waitLine waits for a stderr line containing want and returns it; the process exiting first
// fails the test.
func (w *watched) waitLine(t *testing.T, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l := <-w.lines:
			if strings.Contains(l, want) {
				return l
			}
		case err := <-w.exited:
			w.exited <- err
			t.Fatalf("exited (%v) before logging %q", err, want)
		case <-deadline:
			t.Fatalf("no log line %q within %s", want, timeout)
		}
	}
}

// waitExit waits for the process to end and fails the test unless it exits 0.
func (w *watched) waitExit(t *testing.T, what string, timeout time.Duration) {
	t.Helper()
	select {
	case err := <-w.exited:
		if err != nil {
			t.Fatalf("%s: exit %v", what, err)
		}
	case <-time.After(timeout):
		t.Fatalf("%s: still running after %s", what, timeout)
	}
}

// buildDaemon builds this command, statically as the Dockerfile does, into dir (a new
// temporary directory when dir is "") with the extra go build flags, and returns its path.
func buildDaemon(t *testing.T, dir string, flags ...string) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	bin := filepath.Join(dir, "directus-ircd")
	args := append(append([]string{"build"}, flags...), "-o", bin, ".")
	build := exec.Command("go", args...)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}
