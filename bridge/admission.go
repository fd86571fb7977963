package bridge

import (
	"context"
	"fmt"
	"sync"
)

// loginGate bounds the password logins in flight at Directus. Directus checks about 5–6
// passwords a second on a small machine (each login is padded to at least 500 ms); when a
// reconnect wave sends hundreds at once, every one of them times out and none gets in. The
// gate lets a few through at a time, first come first served, so a wave gets in at
// Directus's pace; clients that wait are told so.
type loginGate struct {
	mu      sync.Mutex
	free    int
	waiting []*gateTicket // oldest first
}

type gateTicket struct {
	ready chan struct{} // closed when the ticket holds a slot
}

func newLoginGate(n int) *loginGate { return &loginGate{free: max(n, 1)} }

// acquire waits for a slot in arrival order. notice (may be nil) is told the queue position
// when the caller has to wait. It returns a release function, or ctx's error.
func (g *loginGate) acquire(ctx context.Context, notice func(string)) (func(), error) {
	g.mu.Lock()
	if g.free > 0 && len(g.waiting) == 0 {
		g.free--
		g.mu.Unlock()
		return g.release, nil
	}
	t := &gateTicket{ready: make(chan struct{})}
	g.waiting = append(g.waiting, t)
	ahead := len(g.waiting) - 1
	g.mu.Unlock()
	if notice != nil {
		notice(fmt.Sprintf("Many clients are logging in; yours is queued (%d ahead of you) and will be tried shortly", ahead))
	}
	select {
	case <-t.ready:
		return g.release, nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		select {
		case <-t.ready: // handed a slot just now: pass it on
			g.releaseLocked()
		default:
			for i, w := range g.waiting {
				if w == t {
					g.waiting = append(g.waiting[:i], g.waiting[i+1:]...)
					break
				}
			}
		}
		return nil, ctx.Err()
	}
}

func (g *loginGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.releaseLocked()
}

func (g *loginGate) releaseLocked() {
	if len(g.waiting) > 0 {
		t := g.waiting[0]
		g.waiting = g.waiting[1:]
		close(t.ready)
		return
	}
	g.free++
}
