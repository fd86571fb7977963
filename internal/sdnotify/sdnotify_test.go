package sdnotify

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/directus-ircd/directus-ircd/internal/sdnotify/sdnotifytest"
)

func monotonicNow(t *testing.T) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano() / 1e3
}

// The daemon's lifecycle as systemd sees it, in order: READY with a status, a reload
// (RELOADING with a MONOTONIC_USEC taken during the call, then READY), a status change,
// STOPPING. A newline in a status cannot add an assignment.
func TestLifecycleMessagesInOrder(t *testing.T) {
	for _, name := range []string{"path", "abstract"} {
		t.Run(name, func(t *testing.T) {
			path := ""
			if name == "abstract" {
				path = "@directus-ircd-test-" + strconv.Itoa(os.Getpid())
			}
			sd := sdnotifytest.Listen(t, path)
			n, err := New([]string{sd.Env()})
			if err != nil || n == nil {
				t.Fatalf("New = %v, %v", n, err)
			}
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(n.Ready("serving IRC; Directus subscription live"))
			before := monotonicNow(t)
			must(n.Reloading())
			after := monotonicNow(t)
			must(n.Ready("configuration reloaded"))
			must(n.Status("Directus unreachable\nREADY=1"))
			must(n.Stopping("shutting down"))

			want := [][]string{
				{"READY=1", "STATUS=serving IRC; Directus subscription live"},
				{"RELOADING=1", "MONOTONIC_USEC"},
				{"READY=1", "STATUS=configuration reloaded"},
				{"STATUS=Directus unreachable READY=1"},
				{"STOPPING=1", "STATUS=shutting down"},
			}
			for i, w := range want {
				got := sd.Next(t, 10*time.Second)
				if len(got) != len(w) {
					t.Fatalf("message %d = %q, want %q", i, got, w)
				}
				for j := range w {
					if k, v, _ := strings.Cut(got[j], "="); k == "MONOTONIC_USEC" {
						usec, err := strconv.ParseInt(v, 10, 64)
						if err != nil || usec < before || usec > after {
							t.Fatalf("MONOTONIC_USEC=%s, want CLOCK_MONOTONIC between %d and %d", v, before, after)
						}
					} else if got[j] != w[j] {
						t.Fatalf("message %d = %q, want %q", i, got, w)
					}
				}
			}
		})
	}
}

// Outside systemd there is no Notifier, and the nil one does nothing.
func TestWithoutSystemd(t *testing.T) {
	n, err := New([]string{"HOME=/root", "WATCHDOG_USEC=30000000"})
	if n != nil || err != nil {
		t.Fatalf("New without NOTIFY_SOCKET = %v, %v; want nil, nil", n, err)
	}
	for _, err := range []error{n.Ready("x"), n.Reloading(), n.Status("x"), n.Stopping(""), n.Watchdog(context.Background(), nil)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n.WatchdogInterval() != 0 {
		t.Fatal("watchdog without systemd")
	}
}

func TestNewReadsTheEnvironment(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	tests := []struct {
		env      []string
		watchdog time.Duration
		err      string
	}{
		{env: []string{"NOTIFY_SOCKET=/run/systemd/notify"}},
		{env: []string{"NOTIFY_SOCKET=/run/systemd/notify", "WATCHDOG_USEC=30000000"}, watchdog: 30 * time.Second},
		{env: []string{"NOTIFY_SOCKET=/run/systemd/notify", "WATCHDOG_USEC=30000000", "WATCHDOG_PID=" + self}, watchdog: 30 * time.Second},
		{env: []string{"NOTIFY_SOCKET=/run/systemd/notify", "WATCHDOG_USEC=30000000", "WATCHDOG_PID=1"}}, // another process's
		{env: []string{"NOTIFY_SOCKET=@abstract"}},
		{env: []string{"NOTIFY_SOCKET=/run/systemd/notify", "WATCHDOG_USEC=soon"}, err: "WATCHDOG_USEC"},
		{env: []string{"NOTIFY_SOCKET=/run/systemd/notify", "WATCHDOG_USEC=0"}, err: "WATCHDOG_USEC"},
		{env: []string{"NOTIFY_SOCKET=vsock:2:1234"}, err: "only unix sockets"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.env, " "), func(t *testing.T) {
			n, err := New(tt.env)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one naming %s", err, tt.err)
				}
				return
			}
			if err != nil || n == nil || n.WatchdogInterval() != tt.watchdog {
				t.Fatalf("New = %+v, %v; want watchdog %s", n, err, tt.watchdog)
			}
		})
	}
}

// With WatchdogSec=, keep-alives go out every half interval while the daemon is healthy and
// stop while it is not, so that systemd restarts a daemon that hangs.
func TestWatchdogFollowsHealth(t *testing.T) {
	sd := sdnotifytest.Listen(t, "")
	n, err := New([]string{sd.Env(), "WATCHDOG_USEC=20000"})
	if err != nil {
		t.Fatal(err)
	}
	if n.WatchdogInterval() != 20*time.Millisecond {
		t.Fatalf("interval %s", n.WatchdogInterval())
	}
	// checks receives each health check's answer; the test decides the next one.
	checks := make(chan bool)
	healthy := func() bool { return <-checks }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Watchdog(ctx, healthy) }()

	start := time.Now()
	for i := 0; i < 3; i++ {
		checks <- true
		if got := sd.Next(t, 10*time.Second); len(got) != 1 || got[0] != "WATCHDOG=1" {
			t.Fatalf("keep-alive %d = %q", i, got)
		}
	}
	// Three keep-alives are two ticks of half the interval apart: at least 20 ms in all.
	if elapsed := time.Since(start); elapsed < 20*time.Millisecond {
		t.Fatalf("3 keep-alives within %s: not paced at half of 20ms", elapsed)
	}
	// Unhealthy: the check is made and nothing is sent. The second check is taken only after
	// the first has been dealt with, so a keep-alive for the first would be waiting by then.
	checks <- false
	checks <- false
	if sd.Pending(t) {
		t.Fatalf("a keep-alive while unhealthy: %q", sd.Next(t, 10*time.Second))
	}
	checks <- true
	if got := sd.Next(t, 10*time.Second); got[0] != "WATCHDOG=1" {
		t.Fatalf("after recovery: %q", got)
	}
	cancel()
	// The watchdog may be waiting in a health check when ctx ends; answer it.
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case checks <- false:
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// A keep-alive that cannot be sent (systemd's socket gone for a moment) does not stop the
// watchdog: it keeps checking and trying, and says what went wrong when it ends.
func TestWatchdogKeepsTryingAfterASendError(t *testing.T) {
	n, err := New([]string{"NOTIFY_SOCKET=" + filepath.Join(t.TempDir(), "nobody-listens"), "WATCHDOG_USEC=2000"})
	if err != nil {
		t.Fatal(err)
	}
	checks := make(chan bool)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Watchdog(ctx, func() bool { return <-checks }) }()
	for range 3 {
		checks <- true // each check after the first proves that a failed send did not stop it
	}
	cancel()
	select {
	case err = <-done:
	case checks <- true:
		err = <-done
	}
	if err == nil || !strings.Contains(err.Error(), "sdnotify") {
		t.Fatalf("Watchdog = %v, want the send error", err)
	}
}
