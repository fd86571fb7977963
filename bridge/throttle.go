package bridge

import (
	"sync"
	"time"
)

// throttle refuses logins for an address or an account that failed too often, before they
// reach Directus. Directus suspends an account after 25 failed password logins that are not
// followed by a success (auth_login_attempts, never reset by time), and IRC clients with a
// wrong saved password retry for ever. So after `limit` failures within `window` a key is
// blocked, and each further failure doubles the block (window, 2×window, 4×window, …, at
// most a week): a client retrying all day costs the account a handful of failures, not 25.
// A success clears the key.
type throttle struct {
	perAddr, perAccount int
	window              time.Duration
	now                 func() time.Time

	mu   sync.Mutex
	keys map[string]*failures
}

type failures struct {
	count int
	last  time.Time
}

const maxBlock = 7 * 24 * time.Hour

func newThrottle(perAddr, perAccount int, window time.Duration) *throttle {
	return &throttle{perAddr: perAddr, perAccount: perAccount, window: window, now: time.Now, keys: map[string]*failures{}}
}

// blockedFor says how long a login by addr for account must wait; 0 means go ahead.
func (t *throttle) blockedFor(addr, account string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	return max(t.wait("addr:"+addr, t.perAddr, now), t.wait("acct:"+account, t.perAccount, now))
}

func (t *throttle) wait(key string, limit int, now time.Time) time.Duration {
	f := t.keys[key]
	if f == nil {
		return 0
	}
	if f.count < limit {
		if now.Sub(f.last) > t.window {
			delete(t.keys, key) // a quiet window forgives failures below the limit
		}
		return 0
	}
	until := f.last.Add(t.block(f.count - limit))
	if now.Before(until) {
		return until.Sub(now)
	}
	return 0
}

func (t *throttle) block(over int) time.Duration {
	d := t.window
	for i := 0; i < over && d < maxBlock; i++ {
		d *= 2
	}
	return min(d, maxBlock)
}

// failed records a failed login.
func (t *throttle) failed(addr, account string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range []string{"addr:" + addr, "acct:" + account} {
		f := t.keys[k]
		if f == nil {
			f = &failures{}
			t.keys[k] = f
		}
		f.count++
		f.last = now
	}
}

// succeeded clears an account (and the address it logged in from).
func (t *throttle) succeeded(addr, account string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.keys, "addr:"+addr)
	delete(t.keys, "acct:"+account)
}
