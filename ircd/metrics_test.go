package ircd

import (
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/directus-ircd/directus-ircd/internal/metrics"
)

// scrape reads the registry as a Prometheus scrape would.
func scrape(t *testing.T, reg prometheus.Gatherer) metrics.Values {
	t.Helper()
	v, err := metrics.Gather(reg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitMetric waits until the series has the value: some are updated after the client side
// has seen the effect (a connection is forgotten after the client saw it close).
func waitMetric(t *testing.T, reg prometheus.Gatherer, key string, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := scrape(t, reg)[key]
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", key, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// What an operator watches moves with what clients do: connections by transport,
// registrations, refused logins, channel lines in and out, the fan-out histogram and SendQ
// drops. Scrape, act, scrape again.
func TestMetricsFollowClients(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, func(c *Config) { c.Metrics, c.SendQueueLen = m, 64 })
	before := scrape(t, reg)
	for _, key := range []string{
		`directus_ircd_clients{transport="plain"}`, `directus_ircd_clients{transport="tls"}`, `directus_ircd_clients{transport="websocket"}`,
		`directus_ircd_registrations_total{kind="account"}`, `directus_ircd_login_failures_total{reason="refused"}`,
		"directus_ircd_channel_lines_in_total", "directus_ircd_channel_lines_out_total",
		"directus_ircd_fanout_duration_seconds_count", "directus_ircd_sendq_drops_total",
	} {
		if v, ok := before[key]; !ok || v != 0 {
			t.Errorf("before any client: %s = %v (present %v), want 0", key, v, ok)
		}
	}

	alice, bob := twoUsers(t, e)
	bad := e.dial()
	bad.send("PASS alice:wrong", "NICK x", "USER u 0 * :x")
	if reason := bad.expectClosed(); reason == "" {
		t.Fatal("a wrong password was not refused")
	}
	alice.send("PRIVMSG #chat :hello", "PRIVMSG #chat :world")
	bob.expect("PRIVMSG")
	bob.expect("PRIVMSG")
	alice.sync()                                                      // her PRIVMSGs are handled in order before the PING: their fan-outs are done
	waitMetric(t, reg, `directus_ircd_clients{transport="plain"}`, 2) // the refused one is forgotten

	after := scrape(t, reg)
	for key, want := range map[string]float64{
		`directus_ircd_clients{transport="plain"}`:             2, // net.Pipe: neither TLS nor WebSocket
		`directus_ircd_registrations_total{kind="account"}`:    2,
		`directus_ircd_login_failures_total{reason="refused"}`: 1,
		"directus_ircd_channel_lines_in_total":                 2,
		"directus_ircd_channel_lines_out_total":                2, // to bob; alice has no echo-message
		"directus_ircd_fanout_duration_seconds_count":          2,
	} {
		if after[key] != want {
			t.Errorf("after 2 logins, 1 refused, 2 lines: %s = %v, want %v", key, after[key], want)
		}
	}
	if after["directus_ircd_fanout_duration_seconds_sum"] <= 0 {
		t.Error("the fan-out histogram's sum did not grow")
	}

	// Neither client reads any more. With a send queue of 64 lines, a connection holds at
	// most 64 lines in its queue plus the batch its writer took (at most another 64) when it
	// woke: 200 lines drop both, once each, however the writers are scheduled.
	for i := range 200 {
		e.srv.Broadcast(Message{Nick: "Zed", Text: "line " + strconv.Itoa(i)}, nil)
	}
	for _, c := range []*testConn{alice, bob} {
		if reason := c.expectClosed(); reason != "SendQ exceeded" {
			t.Fatalf("%s: ERROR = %q, want SendQ exceeded", c.nick, reason)
		}
	}
	waitMetric(t, reg, "directus_ircd_sendq_drops_total", 2)
	waitMetric(t, reg, `directus_ircd_clients{transport="plain"}`, 0)
	if got := scrape(t, reg)["directus_ircd_fanout_duration_seconds_count"]; got != 202 {
		t.Errorf("fan-out count after 200 broadcasts more = %v, want 202", got)
	}
}

type wsConn struct{ net.Conn }

func (wsConn) Transport() string { return TransportWebSocket }

func TestTransportOf(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	for _, tt := range []struct {
		conn net.Conn
		want string
	}{
		{a, TransportPlain},
		{tls.Server(a, &tls.Config{}), TransportTLS},
		{wsConn{a}, TransportWebSocket},
	} {
		if got := transportOf(tt.conn); got != tt.want {
			t.Errorf("transportOf(%T) = %q, want %q", tt.conn, got, tt.want)
		}
	}
}

// A backend's refusal reason becomes the label; without one it counts as "refused".
func TestLoginFailureReason(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.loginFailed(&UserError{Text: "Too many failed logins", Reason: "throttled"})
	m.loginFailed(&UserError{Text: "Invalid email or password"})
	m.loginFailed(errors.New("not a UserError"))
	v := scrape(t, reg)
	if v[`directus_ircd_login_failures_total{reason="throttled"}`] != 1 || v[`directus_ircd_login_failures_total{reason="refused"}`] != 2 {
		t.Fatalf("login failures: %v", v)
	}
	// A second set of collectors in the same registry is an error, not a panic.
	if _, err := NewMetrics(reg); err == nil {
		t.Fatal("registering twice succeeded")
	}
	// Without metrics nothing is recorded and nothing fails.
	var none *Metrics
	none.loginFailed(err)
	none.fannedOut(time.Now(), 3)
	none.connOpened(nil)
}
