// Package sdnotify tells systemd the daemon's state (sd_notify(3)): ready, reloading,
// stopping, a status line, and watchdog keep-alives.
//
// It speaks the documented protocol directly (a datagram of KEY=VALUE lines to
// $NOTIFY_SOCKET) rather than through go-systemd: that is a few lines, and RELOADING=1 needs
// MONOTONIC_USEC, which go-systemd leaves to the caller anyway.
//
// The daemon's lifecycle, for a unit with Type=notify (or Type=notify-reload, systemd ≥ 253):
//
//	n, err := sdnotify.New(environ)       // nil, nil outside systemd: every method is a no-op
//	…open listeners, start the bridge…
//	wait until the Directus subscription is live, at most a bounded time (well under the
//	unit's TimeoutStartSec, 90s by default), then:
//	n.Ready("serving IRC; Directus subscription live")
//	//   or, when the wait ran out:
//	//   n.Ready("serving IRC; Directus not reachable yet, retrying")
//	go n.Watchdog(ctx, healthy)            // returns at once unless WatchdogSec= is set
//	on SIGHUP: n.Reloading(); reload; n.Ready("configuration reloaded")  (also after a refused reload)
//	on SIGTERM: n.Stopping("shutting down"); shut down
//	any time: n.Status("Directus unreachable; 3 lines held")
//
// healthy answers whether the daemon still works; a check that blocks (a wedged lock) stops
// the keep-alives just as false does, and systemd restarts the service after WatchdogSec.
// Checking something the daemon must be able to do, such as taking the IRC server's lock
// (ircd's ClientCount), is a good probe; a lost Directus connection is not a reason to be
// restarted.
//
// Errors are worth a log line but never worth stopping for: systemd then only lacks news.
// sdnotifytest is a fake NOTIFY_SOCKET for tests of that order.
package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Notifier sends state to systemd. A nil *Notifier (not started by systemd) does nothing.
type Notifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration // 0: no watchdog
}

// New reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from environ (os.Environ() form).
// Without NOTIFY_SOCKET it returns nil, nil: the daemon was not started by systemd with
// Type=notify, and every method of the nil Notifier is a no-op.
func New(environ []string) (*Notifier, error) {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	path := env["NOTIFY_SOCKET"]
	if path == "" {
		return nil, nil
	}
	// A path, or "@name" for the abstract namespace (Go's net maps '@' to the NUL byte).
	if !strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "@") {
		return nil, fmt.Errorf("sdnotify: NOTIFY_SOCKET %q: only unix sockets are supported", path)
	}
	n := &Notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
	if usec := env["WATCHDOG_USEC"]; usec != "" {
		// WATCHDOG_PID, when set, names the process the watchdog is for (not a child of it).
		if pid := env["WATCHDOG_PID"]; pid == "" || pid == strconv.Itoa(os.Getpid()) {
			v, err := strconv.ParseUint(usec, 10, 63)
			if err != nil || v == 0 {
				return nil, fmt.Errorf("sdnotify: WATCHDOG_USEC %q is not a positive number of microseconds", usec)
			}
			n.watchdog = time.Duration(v) * time.Microsecond
		}
	}
	return n, nil
}

// Ready says the service is up (READY=1), with a STATUS line if status is not empty. Send it
// at start-up once clients can be served, and after each reload.
func (n *Notifier) Ready(status string) error {
	return n.send("READY=1", status)
}

// Reloading says a reload has begun (RELOADING=1 with MONOTONIC_USEC, as Type=notify-reload
// requires). Send Ready when the reload is done, whether or not it succeeded.
func (n *Notifier) Reloading() error {
	if n == nil {
		return nil
	}
	// CLOCK_MONOTONIC, the clock systemd compares MONOTONIC_USEC with.
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return fmt.Errorf("sdnotify: CLOCK_MONOTONIC: %w", err)
	}
	return n.send("RELOADING=1\nMONOTONIC_USEC="+strconv.FormatInt(ts.Nano()/1e3, 10), "")
}

// Stopping says the service is shutting down (STOPPING=1), with a STATUS line if not empty.
func (n *Notifier) Stopping(status string) error {
	return n.send("STOPPING=1", status)
}

// Status sets the line `systemctl status` shows.
func (n *Notifier) Status(status string) error {
	if status == "" {
		return nil
	}
	return n.send("", status)
}

// WatchdogInterval is WatchdogSec= as systemd passed it, or 0 when the watchdog is off.
func (n *Notifier) WatchdogInterval() time.Duration {
	if n == nil {
		return 0
	}
	return n.watchdog
}

// Watchdog sends WATCHDOG=1 every half WatchdogInterval while healthy() (nil: always) says
// the daemon works, until ctx ends. When healthy() is false no keep-alive is sent, and
// systemd restarts the service once the interval has passed without one. A keep-alive that
// cannot be sent is tried again at the next tick; the first such error is returned when ctx
// ends. Returns at once when the watchdog is off. Run it on its own goroutine.
func (n *Notifier) Watchdog(ctx context.Context, healthy func() bool) error {
	if n.WatchdogInterval() == 0 {
		return nil
	}
	t := time.NewTicker(n.watchdog / 2)
	defer t.Stop()
	var firstErr error
	for {
		if healthy == nil || healthy() {
			if err := n.send("WATCHDOG=1", ""); err != nil && firstErr == nil {
				firstErr = err
			}
		}
		select {
		case <-ctx.Done():
			return firstErr
		case <-t.C:
		}
	}
}

// send writes one datagram: state (KEY=VALUE lines) and STATUS=status when status is not
// empty, newlines in status folded so that it cannot add assignments.
func (n *Notifier) send(state, status string) error {
	if n == nil {
		return nil
	}
	var lines []string
	if state != "" {
		lines = append(lines, state)
	}
	if status != "" {
		lines = append(lines, "STATUS="+strings.NewReplacer("\r", " ", "\n", " ").Replace(status))
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	msg := strings.Join(lines, "\n") + "\n"
	if _, err := conn.Write([]byte(msg)); err != nil {
		return fmt.Errorf("sdnotify: send %q: %w", strings.SplitN(msg, "\n", 2)[0], err)
	}
	return nil
}
