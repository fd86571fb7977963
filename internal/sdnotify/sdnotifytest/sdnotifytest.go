// Package sdnotifytest is a fake systemd for tests: a NOTIFY_SOCKET that records what a
// daemon says, for a test that checks the order of READY=1, RELOADING=1 and STOPPING=1
// against what the daemon does (in-process, or as an exec'd binary given Env()).
package sdnotifytest

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Socket is a unixgram NOTIFY_SOCKET in the test's temporary directory, closed at the end of
// the test.
type Socket struct {
	conn *net.UnixConn
	Path string
}

// Listen opens a NOTIFY_SOCKET at path, or in t.TempDir() when path is "". A path starting
// with '@' is in the abstract namespace.
func Listen(t testing.TB, path string) *Socket {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "notify")
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &Socket{conn: conn, Path: path}
}

// Env is the environment entry that points a daemon at the socket.
func (s *Socket) Env() string { return "NOTIFY_SOCKET=" + s.Path }

// Next waits (up to timeout) for the next datagram and returns its assignments in order,
// e.g. ["READY=1", "STATUS=serving"]. A datagram that does not end in a newline fails the
// test: sd_notify's messages are newline-terminated lines.
func (s *Socket) Next(t testing.TB, timeout time.Duration) []string {
	t.Helper()
	buf := make([]byte, 4096)
	_ = s.conn.SetReadDeadline(time.Now().Add(timeout))
	n, err := s.conn.Read(buf)
	if err != nil {
		t.Fatalf("no sd_notify message within %s: %v", timeout, err)
	}
	msg := string(buf[:n])
	if !strings.HasSuffix(msg, "\n") {
		t.Errorf("sd_notify message %q does not end in a newline", msg)
	}
	return strings.Split(strings.TrimSuffix(msg, "\n"), "\n")
}

// NextWith waits for the next datagram holding the assignment want (e.g. "READY=1"),
// skipping others such as WATCHDOG=1 and STATUS=, and returns it whole.
func (s *Socket) NextWith(t testing.TB, want string, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := s.Next(t, time.Until(deadline))
		for _, a := range msg {
			if a == want {
				return msg
			}
		}
	}
}

// Pending says whether a datagram is waiting, without waiting for one.
func (s *Socket) Pending(t testing.TB) bool {
	t.Helper()
	raw, err := s.conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	pending := false
	_ = raw.Control(func(fd uintptr) {
		_, _, err := unix.Recvfrom(int(fd), make([]byte, 1), unix.MSG_PEEK|unix.MSG_DONTWAIT)
		pending = err == nil
	})
	return pending
}
