package directus_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/internal/dtest"
)

// TestTokenRenewal: with ACCESS_TOKEN_TTL=15s, subscriptions opened with
// email/password and with a refresh token stay alive for 45 s and receive
// every event created once a second across several expiries. Directus pings
// every 5 s and the client sends no pings of its own, so answering Directus's
// pings is exercised too. A socket authenticated with a bare access token
// ends with ErrTokenExpired.
func TestTokenRenewal(t *testing.T) {
	if testing.Short() {
		t.Skip("waits through token expiries (about 50 s)")
	}
	in, res := dtest.StartProvisioned(t, dtest.Options{Env: map[string]string{
		"ACCESS_TOKEN_TTL": "15s", "WEBSOCKETS_HEARTBEAT_PERIOD": "5"}})
	c, logs := newClient(t, in, func(cfg *directus.Config) { cfg.PingInterval = time.Hour })
	ctx := testContext(t, 3*time.Minute)

	carolTokens, err := c.Login(ctx, dtest.CarolEmail, dtest.CarolPassword)
	if err != nil {
		t.Fatal(err)
	}
	aliceTokens, err := c.Login(ctx, dtest.AliceEmail, dtest.AlicePassword)
	if err != nil {
		t.Fatal(err)
	}
	renewing := map[string]*directus.Conn{
		"bob (email/password)":  dial(t, c, bob),
		"carol (refresh token)": dial(t, c, directus.Credentials{RefreshToken: carolTokens.Refresh}),
	}
	plain := dial(t, c, directus.Credentials{AccessToken: aliceTokens.Access})

	collectors := map[string]*collector{}
	for name, k := range renewing {
		collectors[name] = collect(t, ctx, k)
	}
	start := time.Now()
	sent := produce(t, ctx, c, res.BridgeToken, 45*time.Second, time.Second)
	elapsed := time.Since(start)

	for name, col := range collectors {
		got := col.waitFor(sent, 15*time.Second)
		t.Logf("%s: sent %d, received %d in %v", name, len(sent), len(got), elapsed.Round(time.Second))
		if missing := difference(sent, got); len(missing) > 0 {
			t.Errorf("%s: %d events missing: %v (subscription err %v)", name, len(missing), missing, col.sub.Err())
		}
		if err := renewing[name].Err(); err != nil {
			t.Errorf("%s: connection ended: %v", name, err)
		}
	}
	renewals := strings.Count(logs.String(), "session renewed")
	t.Logf("session renewals: %d; expiries passed: %d", renewals, int(elapsed/(15*time.Second)))
	if renewals < 2*len(renewing) || elapsed < 40*time.Second {
		t.Errorf("want ≥ 2 renewals per connection over ≥ 40 s, got %d over %v", renewals, elapsed)
	}
	select {
	case <-plain.Done():
		if !errors.Is(plain.Err(), directus.ErrTokenExpired) {
			t.Errorf("access-token connection ended with %v, want ErrTokenExpired", plain.Err())
		}
	default:
		t.Error("access-token connection still open after the token expired")
	}
}

// collector gathers the ids of create events of one subscription.
type collector struct {
	sub *directus.Subscription
	mu  sync.Mutex
	ids map[string]bool
	ch  chan struct{} // signalled on each new id
}

func collect(t *testing.T, ctx context.Context, k *directus.Conn) *collector {
	sub, err := k.Subscribe(ctx, "messages", directus.Query{Fields: []string{"id"}, Limit: new(0)})
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{sub: sub, ids: map[string]bool{}, ch: make(chan struct{}, 1)}
	go func() {
		for e := range sub.Events() {
			for _, raw := range e.Items {
				if id, err := directus.ItemID(raw); err == nil && e.Kind == directus.EventCreate {
					col.add(id)
				}
			}
		}
	}()
	return col
}

func (col *collector) add(id string) {
	col.mu.Lock()
	col.ids[id] = true
	col.mu.Unlock()
	select {
	case col.ch <- struct{}{}:
	default:
	}
}

func (col *collector) snapshot() map[string]bool {
	col.mu.Lock()
	defer col.mu.Unlock()
	m := make(map[string]bool, len(col.ids))
	for id := range col.ids {
		m[id] = true
	}
	return m
}

// waitFor waits until all ids arrived or the timeout passed and returns what arrived.
func (col *collector) waitFor(ids []string, timeout time.Duration) map[string]bool {
	deadline := time.After(timeout)
	for {
		got := col.snapshot()
		if len(difference(ids, got)) == 0 {
			return got
		}
		select {
		case <-col.ch:
		case <-deadline:
			return got
		}
	}
}

func difference(want []string, got map[string]bool) []string {
	var missing []string
	for _, id := range want {
		if !got[id] {
			missing = append(missing, id)
		}
	}
	return missing
}

// produce creates a message over REST every interval for d and returns the ids.
func produce(t *testing.T, ctx context.Context, c *directus.Client, token string, d, interval time.Duration) []string {
	var ids []string
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for end := time.Now().Add(d); time.Now().Before(end); <-tick.C {
		raw, err := c.CreateItem(ctx, token, "messages", map[string]any{"text": "tick"}, []string{"id"})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		id, _ := directus.ItemID(raw)
		ids = append(ids, id)
	}
	return ids
}
