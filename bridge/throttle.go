package bridge

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// throttle decides, before Directus is asked, whether a login may be tried. Directus counts a
// password login as failed before it checks the password, resets the count only on a
// success, and suspends the account after 25 (auth_login_attempts; never reset by time), so
// an ordinary user with a script could otherwise suspend anyone, admins included.
//
// Every attempt reserves its failure before Directus is asked (an attempt in flight counts
// against the budget), so parallel attempts cannot get past the check together. Limits:
//   - an address with perAddr failures (any account) is blocked;
//   - an address with pairLimit failures for one account is blocked for that account;
//   - an account takes at most acctBudget failed-or-in-flight attempts a window, plus
//     acctReserve more from addresses that have not failed for it, so that its owner on a
//     fresh address still gets in while an attacker's addresses are blocked;
//   - an account takes at most sinceSuccessCap failures between two successes (remembered a
//     day), far below Directus's 25; past it only addresses where the account logged in
//     before (remembered 30 days) are let through.
//
// A block lasts the window and doubles with each further failure, at most maxBlock. A success
// clears the account and the pair, and marks the address as known for the account. Entries
// are forgotten when they expire, and their number is capped, so a spray of random accounts
// and addresses cannot grow memory without bound.
type throttle struct {
	perAddr, acctBudget int
	window              time.Duration
	now                 func() time.Time

	mu   sync.Mutex
	keys map[string]*failures
	ops  int
}

type failures struct {
	count   int       // failures
	pending int       // attempts in flight
	last    time.Time // last failure or success
	keep    time.Duration
}

const (
	maxBlock        = time.Hour
	pairLimit       = 3
	acctReserve     = 5
	sinceSuccessCap = 20
	sinceSuccessTTL = 24 * time.Hour
	knownAddrTTL    = 30 * 24 * time.Hour
	// maxThrottleKeys bounds the throttle's memory (about 100 bytes an entry).
	maxThrottleKeys = 100_000
)

func newThrottle(perAddr, perAccount int, window time.Duration) *throttle {
	return &throttle{perAddr: perAddr, acctBudget: perAccount, window: window, now: time.Now, keys: map[string]*failures{}}
}

// throttleKey groups addresses: one IPv6 /64 is one client.
func throttleKey(addr netip.Addr) string {
	if addr.Is6() && !addr.Is4In6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.Unmap().String()
}

// tokenAccount is the throttle's account key for a static token: a hash, never the token.
func tokenAccount(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "token:" + hex.EncodeToString(sum[:12])
}

// loginAttempt is a reservation made by begin; end settles it exactly once.
type loginAttempt struct {
	t          *throttle
	addr, acct string
}

// Outcomes of a login attempt, for end.
const (
	loginFailed    = iota // Directus said the credentials are wrong
	loginSucceeded        // Directus accepted them
	loginUndecided        // Directus was not reached or did not answer: nothing to count
)

// begin reserves an attempt by addr for account, or says why not and for how long.
func (t *throttle) begin(addr netip.Addr, account string) (*loginAttempt, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.maybePurge(now)
	a := throttleKey(addr)
	// Logins in flight do not count against an address: a reconnect wave behind one NAT (or
	// a web IRC client's server) is many correct logins of different accounts at once. They
	// count against an account, and against one account from one address.
	if w := t.blocked("a|"+a, t.perAddr, now, false); w > 0 {
		return nil, fmt.Sprintf("Too many failed logins from your address; try again in %s", roundUp(w))
	}
	if w := t.blocked("p|"+account+"|"+a, pairLimit, now, true); w > 0 {
		return nil, fmt.Sprintf("Too many failed logins for this account from your address; try again in %s", roundUp(w))
	}
	known := t.live("g|"+account+"|"+a, now) != nil
	if !known {
		fresh := t.live("p|"+account+"|"+a, now) == nil
		budget := t.acctBudget
		if fresh {
			budget += acctReserve
		}
		if f := t.live("c|"+account, now); f != nil && f.count+f.pending >= budget {
			w := max(f.last.Add(t.window).Sub(now), time.Second)
			return nil, fmt.Sprintf("Too many failed logins for this account; try again in %s, or log in from a device that has logged in before", roundUp(w))
		}
		if f := t.live("s|"+account, now); f != nil && f.count+f.pending >= sinceSuccessCap {
			return nil, "Too many failed logins for this account; log in from a device that has logged in before, use a static token, or ask an administrator"
		}
	}
	for _, k := range []string{"a|" + a, "p|" + account + "|" + a, "c|" + account, "s|" + account} {
		t.entry(k, now).pending++
	}
	return &loginAttempt{t: t, addr: a, acct: account}, ""
}

// end settles the attempt.
func (l *loginAttempt) end(outcome int) {
	t := l.t
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	keys := []string{"a|" + l.addr, "p|" + l.acct + "|" + l.addr, "c|" + l.acct, "s|" + l.acct}
	for _, k := range keys {
		if f := t.keys[k]; f != nil && f.pending > 0 {
			f.pending--
		}
	}
	switch outcome {
	case loginFailed:
		for _, k := range keys {
			f := t.entry(k, now)
			f.count++
			f.last = now
		}
	case loginSucceeded:
		for _, k := range keys[1:] {
			if f := t.keys[k]; f != nil && f.pending == 0 {
				delete(t.keys, k)
			} else if f != nil {
				f.count = 0
			}
		}
		g := t.entry("g|"+l.acct+"|"+l.addr, now)
		g.last, g.keep = now, knownAddrTTL
	}
}

// clearAccount forgets an account's failures (an administrator re-activated it).
func (t *throttle) clearAccount(account string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range []string{"c|" + account, "s|" + account} {
		if f := t.keys[k]; f != nil {
			f.count = 0
		}
	}
}

func (t *throttle) entry(key string, now time.Time) *failures {
	f := t.keys[key]
	if f == nil {
		f = &failures{last: now}
		switch key[0] {
		case 's':
			f.keep = sinceSuccessTTL
		}
		t.keys[key] = f
	}
	return f
}

// live returns key's entry unless it has expired.
func (t *throttle) live(key string, now time.Time) *failures {
	f := t.keys[key]
	if f == nil || f.pending == 0 && !now.Before(t.expiry(f)) {
		return nil
	}
	return f
}

// blocked says how long key is blocked: limit failures (with inFlight, attempts in flight
// too) block it for the window, doubling with each failure past the limit, at most maxBlock.
func (t *throttle) blocked(key string, limit int, now time.Time, inFlight bool) time.Duration {
	f := t.live(key, now)
	if f == nil {
		return 0
	}
	pending := 0
	if inFlight {
		pending = f.pending
	}
	if f.count+pending < limit {
		return 0
	}
	if f.count < limit { // the limit is reached only with attempts in flight
		return time.Second
	}
	return max(f.last.Add(t.block(f.count-limit)).Sub(now), 0)
}

func (t *throttle) block(over int) time.Duration {
	d := t.window
	for i := 0; i < over && d < maxBlock; i++ {
		d *= 2
	}
	return min(d, maxBlock)
}

// expiry is when an entry without attempts in flight may be forgotten.
func (t *throttle) expiry(f *failures) time.Time {
	keep := max(f.keep, t.block(f.count))
	return f.last.Add(keep)
}

// maybePurge forgets expired entries now and then, and the oldest ones when over the cap.
func (t *throttle) maybePurge(now time.Time) {
	t.ops++
	if t.ops%1024 != 0 && len(t.keys) < maxThrottleKeys {
		return
	}
	for k, f := range t.keys {
		if f.pending == 0 && !now.Before(t.expiry(f)) {
			delete(t.keys, k)
		}
	}
	if len(t.keys) < maxThrottleKeys {
		return
	}
	type aged struct {
		key  string
		last time.Time
	}
	all := make([]aged, 0, len(t.keys))
	for k, f := range t.keys {
		if f.pending == 0 {
			all = append(all, aged{k, f.last})
		}
	}
	slices.SortFunc(all, func(a, b aged) int { return a.last.Compare(b.last) })
	for _, a := range all[:len(all)/4] {
		delete(t.keys, a.key)
	}
}

func (t *throttle) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.keys)
}
