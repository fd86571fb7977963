package bridge_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/directus-ircd/directus-ircd/internal/config"
	"github.com/directus-ircd/directus-ircd/internal/irctest"
	"github.com/directus-ircd/directus-ircd/internal/metrics"
)

// The daemon's metrics against a real Directus, as an operator's Prometheus sees them:
// scrape, send, scrape again. A line from IRC is a create (counted, timed) and a fan-out; a
// line from the web page is a fan-out; during an outage the subscription is down, lines are
// held (gauge) or refused (by reason); when Directus is back the reconnect and back-fill are
// counted and the held lines are created.
func TestMetricsMoveWithTraffic(t *testing.T) {
	s := newStack(t, nil, func(c *config.Config) { c.Queue.PerUser = 2 })
	reg := s.d.Metrics() // what GET /metrics serves
	scrape := func() metrics.Values {
		t.Helper()
		v, err := metrics.Gather(reg)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	expect := func(when string, v metrics.Values, want map[string]float64) {
		t.Helper()
		for k, w := range want {
			if got, ok := v[k]; !ok || got != w {
				t.Errorf("%s: %s = %v (present %v), want %v", when, k, got, ok, w)
			}
		}
	}
	const (
		createsOK  = `directus_ircd_creates_total{result="ok"}`
		createTime = "directus_ircd_create_duration_seconds_count"
		fanouts    = "directus_ircd_fanout_duration_seconds_count"
		linesOut   = "directus_ircd_channel_lines_out_total"
		queueFull  = `directus_ircd_refusals_total{reason="queue_full"}`
	)
	expect("started", scrape(), map[string]float64{
		"directus_ircd_directus_up": 1, "directus_ircd_directus_subscriptions": 1, "directus_ircd_held_lines": 0,
		createsOK: 0, createTime: 0, queueFull: 0, "directus_ircd_directus_reconnects_total": 0,
		"directus_ircd_backfill_items_count": 0,
		"directus_ircd_directus_connections": 1, // the subscription's: nobody created anything yet
	})

	// A wrong password is counted by its reason.
	if refusal, _ := irctest.Dial(t, s.d.addr).RegisterRefused("x", "alice:wrong"); !strings.Contains(refusal, "Invalid email or password") {
		t.Fatalf("wrong password: %q", refusal)
	}
	expect("after a wrong password", scrape(), map[string]float64{`directus_ircd_login_failures_total{reason="bad_credentials"}`: 1})

	alice := login(t, s, "a", "alice", "alicepass")
	bob := login(t, s, "b", "bob", "bobpass")
	before := scrape()
	alice.Send("PRIVMSG", channel, "counted")
	expectPrivmsg(t, bob, "Alice", "counted")
	alice.Sync() // her PRIVMSG, create and fan-out are done
	after := scrape()
	expect("after one line from IRC", after, map[string]float64{
		createsOK: before[createsOK] + 1, createTime: before[createTime] + 1,
		"directus_ircd_channel_lines_in_total": before["directus_ircd_channel_lines_in_total"] + 1,
		fanouts:                                before[fanouts] + 1, linesOut: before[linesOut] + 1, // to bob
		`directus_ircd_registrations_total{kind="account"}`: 2, `directus_ircd_clients{transport="plain"}`: 2,
		"directus_ircd_directus_connections": 2, // and Alice's creating socket
	})
	if after["directus_ircd_create_duration_seconds_sum"] <= before["directus_ircd_create_duration_seconds_sum"] {
		t.Error("the create histogram's sum did not grow")
	}

	web := s.web("carol@example.com", "carolpass")
	web.send("from the web")
	expectPrivmsg(t, bob, "Carol", "from the web")
	waitFor(t, "the web line's fan-out counted", func() bool { return scrape()[fanouts] == after[fanouts]+1 })

	s.dx.Kill(t)
	alice.ExpectFunc("outage notice", func(m ircmsg.Message) bool {
		return m.Command == "NOTICE" && strings.Contains(text(m), "unreachable")
	})
	for i := 1; i <= 3; i++ {
		bob.Send("PRIVMSG", channel, fmt.Sprintf("held-%d", i))
	}
	bob.Sync()
	expect("during the outage", scrape(), map[string]float64{
		"directus_ircd_directus_up": 0, "directus_ircd_directus_subscriptions": 0,
		"directus_ircd_held_lines": 2, queueFull: 1, createsOK: after[createsOK],
	})

	s.dx.Restart(t)
	alice.ExpectFunc("back notice", func(m ircmsg.Message) bool {
		return m.Command == "NOTICE" && strings.Contains(text(m), "reachable again")
	})
	expectPrivmsg(t, alice, "Bob", "held-1")
	expectPrivmsg(t, alice, "Bob", "held-2")
	// The subscription event may overtake the create's answer: wait for the outbox to empty.
	waitFor(t, "the held lines created", func() bool { return scrape()["directus_ircd_held_lines"] == 0 })
	expect("after the outage", scrape(), map[string]float64{
		"directus_ircd_directus_up": 1, "directus_ircd_directus_subscriptions": 1, "directus_ircd_held_lines": 0,
		"directus_ircd_directus_reconnects_total": 1, "directus_ircd_backfill_items_count": 1,
		createsOK: after[createsOK] + 2,
	})
}
