package bridge

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/directus-ircd/directus-ircd/ircd"
)

// Metrics are the bridge's Prometheus collectors. Make them with NewMetrics and pass them in
// Config.Metrics; a nil *Metrics (the default) records nothing, so tests need none.
type Metrics struct {
	creates       *prometheus.CounterVec // creates of IRC lines in Directus, by result
	createSeconds prometheus.Histogram
	refusals      *prometheus.CounterVec // IRC lines refused to their sender, by reason
	reconnects    prometheus.Counter
	backfill      prometheus.Histogram // items read per back-fill after an outage

	bridge atomic.Pointer[Bridge] // read at scrape time by the gauges
}

// Create results, the label values of directus_ircd_creates_total.
const (
	createOK          = "ok"          // stored
	createUnreachable = "unreachable" // Directus away or too slow: the line is held and retried
	createRefused     = "refused"     // Directus said no, or the user's session ended
)

// Refusal reasons, the label values of directus_ircd_refusals_total: why a line from IRC was
// answered with 404 or FAIL … MESSAGE_NOT_SENT instead of stored.
const (
	refusedNotLoggedIn  = "not_logged_in"
	refusedShuttingDown = "shutting_down"
	refusedGuest        = "guest_may_not_post"
	refusedQueueFull    = "queue_full"    // Directus unreachable and queue.per_user or queue.total reached
	refusedHeldTooLong  = "held_too_long" // held longer than queue.max_wait
	refusedByDirectus   = "directus_refused"
	refusedSessionEnded = "session_ended"
)

// NewMetrics makes the bridge's collectors and registers them with reg (none when reg is
// nil: they work, unexported). It fails if reg already has collectors of these names.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		creates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "directus_ircd_creates_total",
			Help: "Creates of IRC channel lines in Directus, by result (ok, unreachable: held and retried, refused).",
		}, []string{"result"}),
		createSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "directus_ircd_create_duration_seconds",
			Help: "Time of one create in Directus, from the request to its answer (or failure).",
			// 1ms … 16s: a create takes ~10ms on a healthy Directus; directus.request_timeout caps it.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "directus_ircd_refusals_total",
			Help: "IRC channel lines refused to their sender (404 or FAIL MESSAGE_NOT_SENT), by reason.",
		}, []string{"reason"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "directus_ircd_directus_reconnects_total",
			Help: "Times the Directus subscription came back after being lost.",
		}),
		backfill: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "directus_ircd_backfill_items",
			Help:    "Messages read per back-fill (created in Directus while its subscription was down).",
			Buckets: []float64{0, 1, 10, 100, 1000, 10000},
		}),
	}
	for _, r := range []string{createOK, createUnreachable, createRefused} {
		m.creates.WithLabelValues(r)
	}
	for _, r := range []string{refusedNotLoggedIn, refusedShuttingDown, refusedGuest, refusedQueueFull, refusedHeldTooLong, refusedByDirectus, refusedSessionEnded} {
		m.refusals.WithLabelValues(r)
	}
	gauge := func(name, help string, f func(b *Bridge) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			if b := m.bridge.Load(); b != nil {
				return f(b)
			}
			return 0
		})
	}
	up := func(b *Bridge) float64 {
		if b.online.Load() {
			return 1
		}
		return 0
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{
		m.creates, m.createSeconds, m.refusals, m.reconnects, m.backfill,
		gauge("directus_ircd_held_lines", "IRC lines held while Directus is unreachable, waiting to be created.",
			func(b *Bridge) float64 { return float64(b.heldTotal.Load()) }),
		gauge("directus_ircd_directus_up", "1 while the Directus subscription is live, else 0.", up),
		gauge("directus_ircd_directus_subscriptions", "Directus subscriptions the daemon holds (counted in its Directus client): 1 while live, whatever the number of IRC users.",
			func(b *Bridge) float64 { return float64(b.dc.Subscriptions()) }),
		gauge("directus_ircd_directus_connections", "Open WebSocket connections to Directus: the subscription's, plus one per user with a recent create.",
			func(b *Bridge) float64 { return float64(b.dc.OpenConns()) }),
	} {
		errs = append(errs, reg.Register(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("bridge metrics: %w", err)
	}
	return m, nil
}

// observe makes the gauges read b; it returns m, for New.
func (m *Metrics) observe(b *Bridge) *Metrics {
	if m != nil {
		m.bridge.Store(b)
	}
	return m
}

// created records one create that started at start and ended with *err.
func (m *Metrics) created(start time.Time, err *error) {
	if m == nil {
		return
	}
	m.createSeconds.Observe(time.Since(start).Seconds())
	switch {
	case *err == nil:
		m.creates.WithLabelValues(createOK).Inc()
	case isTransient(*err):
		m.creates.WithLabelValues(createUnreachable).Inc()
	default:
		m.creates.WithLabelValues(createRefused).Inc()
	}
}

func (m *Metrics) refused(reason string) {
	if m != nil {
		m.refusals.WithLabelValues(reason).Inc()
	}
}

// createRefusal is the refusal reason for a create that failed for good.
func createRefusal(err error) string {
	if ircd.DisconnectReason(err) != "" {
		return refusedSessionEnded
	}
	return refusedByDirectus
}

// connected records a (re)subscription; wasUp says it is a reconnect.
func (m *Metrics) connected(wasUp bool) {
	if m != nil && wasUp {
		m.reconnects.Inc()
	}
}

func (m *Metrics) backfilled(items int) {
	if m != nil {
		m.backfill.Observe(float64(items))
	}
}
