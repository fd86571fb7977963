package bridge

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// fakeClock drives a throttle's time.
type fakeClock struct{ now time.Time }

func (c *fakeClock) add(d time.Duration) { c.now = c.now.Add(d) }

func testThrottle(perAddr, perAccount int, window time.Duration) (*throttle, *fakeClock) {
	clk := &fakeClock{now: time.Unix(1_000_000, 0)}
	th := newThrottle(perAddr, perAccount, window)
	th.now = func() time.Time { return clk.now }
	return th, clk
}

// try makes one attempt and settles it with outcome; it reports whether it reached Directus.
func try(th *throttle, from, account string, outcome int) bool {
	att, _ := th.begin(addr(from), account)
	if att == nil {
		return false
	}
	att.end(outcome)
	return true
}

func TestThrottleAttacksNeverSuspendAndNeverLockOutTheOwner(t *testing.T) {
	tests := []struct {
		name     string
		attack   func(th *throttle, clk *fakeClock) (reached int)
		maxReach int
	}{
		{"40 sequential from four addresses", func(th *throttle, clk *fakeClock) (n int) {
			for i := range 40 {
				if try(th, fmt.Sprintf("10.0.0.%d", i%4+1), "carol@example.com", loginFailed) {
					n++
				}
			}
			return n
		}, 15},
		{"40 parallel from four addresses (reserved before Directus answers)", func(th *throttle, clk *fakeClock) (n int) {
			var atts []*loginAttempt
			for i := range 40 {
				if a, _ := th.begin(addr(fmt.Sprintf("10.0.0.%d", i%4+1)), "carol@example.com"); a != nil {
					atts = append(atts, a)
				}
			}
			for _, a := range atts {
				a.end(loginFailed)
			}
			return len(atts)
		}, 15},
		{"a retry every 10 s for a day from one address", func(th *throttle, clk *fakeClock) (n int) {
			for range 8640 {
				if try(th, "10.0.0.9", "carol@example.com", loginFailed) {
					n++
				}
				clk.add(10 * time.Second)
			}
			return n
		}, 24},
		{"one attempt from each of 1,000 addresses", func(th *throttle, clk *fakeClock) (n int) {
			for i := range 1000 {
				if try(th, fmt.Sprintf("10.1.%d.%d", i/250, i%250+1), "carol@example.com", loginFailed) {
					n++
				}
			}
			return n
		}, 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th, clk := testThrottle(10, 10, 15*time.Minute)
			// The owner has logged in before from home.
			if !try(th, "192.0.2.1", "carol@example.com", loginSucceeded) {
				t.Fatal("first login refused")
			}
			if n := tt.attack(th, clk); n > tt.maxReach || n >= 25 {
				t.Fatalf("%d failed attempts reached Directus (at most %d allowed; Directus suspends at 25)", n, tt.maxReach)
			}
			if att, why := th.begin(addr("192.0.2.1"), "carol@example.com"); att == nil {
				t.Fatalf("the owner from a known address is kept out: %s", why)
			} else {
				att.end(loginSucceeded)
			}
		})
	}
}

func TestThrottleOwnerFromAFreshAddressGetsIn(t *testing.T) {
	th, _ := testThrottle(10, 10, 15*time.Minute)
	for i := range 40 {
		try(th, fmt.Sprintf("10.0.0.%d", i%4+1), "carol@example.com", loginFailed)
	}
	if att, why := th.begin(addr("198.51.100.7"), "carol@example.com"); att == nil {
		t.Fatalf("owner on a fresh address refused: %s", why)
	}
}

func TestThrottleBlocksEndAndDoNotDoubleForEver(t *testing.T) {
	th, clk := testThrottle(100, 10, time.Minute)
	for range pairLimit {
		try(th, "10.0.0.1", "bob@example.com", loginFailed)
	}
	att, why := th.begin(addr("10.0.0.1"), "bob@example.com")
	if att != nil || why == "" {
		t.Fatal("pair not blocked after its limit")
	}
	for range 10 { // each further failure doubles the block, up to maxBlock
		clk.add(2 * maxBlock)
		try(th, "10.0.0.1", "bob@example.com", loginFailed)
	}
	clk.add(maxBlock + time.Second)
	if att, why := th.begin(addr("10.0.0.1"), "bob@example.com"); att == nil {
		t.Fatalf("still blocked after maxBlock: %s", why)
	}
}

func TestThrottleTokensAreKeyedByTokenAndAddress(t *testing.T) {
	th, _ := testThrottle(10, 10, 15*time.Minute)
	for i := range 8 {
		try(th, fmt.Sprintf("10.0.0.%d", i+1), tokenAccount(fmt.Sprintf("bad-%d", i)), loginFailed)
	}
	if att, why := th.begin(addr("10.0.0.200"), tokenAccount("the-good-token")); att == nil {
		t.Fatalf("a valid token from another address refused: %s", why)
	}
	if k := tokenAccount("secret"); k == "secret" || len(k) < 10 {
		t.Fatalf("token key %q", k)
	}
}

func TestThrottleSuccessClears(t *testing.T) {
	th, _ := testThrottle(100, 3, time.Minute)
	for range 2 {
		try(th, "10.0.0.1", "bob@example.com", loginFailed)
	}
	try(th, "10.0.0.1", "bob@example.com", loginSucceeded)
	for range 2 {
		if !try(th, "10.0.0.1", "bob@example.com", loginFailed) {
			t.Fatal("failures before a success still count")
		}
	}
}

func TestThrottleMemoryIsBounded(t *testing.T) {
	th, clk := testThrottle(10, 10, 15*time.Minute)
	for i := range 100_000 {
		try(th, fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), fmt.Sprintf("user%d@example.com", i), loginFailed)
		if i%100 == 0 {
			clk.add(time.Second)
		}
	}
	if n := th.size(); n > maxThrottleKeys {
		t.Fatalf("%d throttle entries after 100,000 failed logins, cap %d", n, maxThrottleKeys)
	}
	clk.add(25 * time.Hour)
	try(th, "10.0.0.1", "x@example.com", loginFailed)
	for range 1024 {
		try(th, "10.0.0.1", "x@example.com", loginUndecided)
	}
	if n := th.size(); n > 10 {
		t.Fatalf("%d entries remain a day later", n)
	}
}

func TestLoginGateIsFairAndBounded(t *testing.T) {
	g := newLoginGate(1)
	var mu sync.Mutex
	inFlight, most := 0, 0
	var order []int
	var wg sync.WaitGroup
	release0, _ := g.acquire(t.Context(), nil)
	queued := make(chan struct{}, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rel, err := g.acquire(t.Context(), func(string) { queued <- struct{}{} })
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			order = append(order, i)
			inFlight--
			mu.Unlock()
			rel()
		}()
		<-queued // each waits behind the previous one
	}
	release0()
	wg.Wait()
	if most > 1 {
		t.Fatalf("%d logins in flight, gate of 1", most)
	}
	for i, v := range order {
		if v != i {
			t.Fatalf("served out of order: %v", order)
		}
	}
}

// A reconnect wave behind one address (a NAT, a web IRC client's server) is many logins of
// different accounts in flight at once: none is refused for it.
func TestThrottleLetsAWaveFromOneAddressIn(t *testing.T) {
	th, _ := testThrottle(10, 10, 15*time.Minute)
	var atts []*loginAttempt
	for i := range 500 {
		att, why := th.begin(addr("203.0.113.9"), fmt.Sprintf("user%d@example.com", i))
		if att == nil {
			t.Fatalf("login %d of the wave refused: %s", i, why)
		}
		atts = append(atts, att)
	}
	for _, a := range atts {
		a.end(loginSucceeded)
	}
}
