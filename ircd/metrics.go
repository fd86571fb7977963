package ircd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the IRC server's Prometheus collectors. Make them with NewMetrics and pass them
// in Config.Metrics; a nil *Metrics (the default) records nothing, so tests need none. They
// are read once by NewServer: Reload does not replace them.
type Metrics struct {
	clients       *prometheus.GaugeVec   // open connections, by transport
	registrations *prometheus.CounterVec // completed registrations, by kind
	loginFailures *prometheus.CounterVec // logins the backend refused, by reason
	linesIn       prometheus.Counter     // channel messages read from clients
	linesOut      prometheus.Counter     // channel lines queued to members
	fanout        prometheus.Histogram   // Broadcast: handed to the server → last member's queue
	sendQDrops    prometheus.Counter     // connections dropped for SendQ exceeded
}

// Transports, the label values of directus_ircd_clients. A net.Conn that is neither plain
// TCP nor *tls.Conn (an IRC-over-WebSocket adapter, say) names its own with a method
// Transport() string.
const (
	TransportPlain     = "plain"
	TransportTLS       = "tls"
	TransportWebSocket = "websocket"
)

// LoginRefused is the reason counted for a refused login whose UserError carries no Reason.
const LoginRefused = "refused"

// NewMetrics makes the server's collectors and registers them with reg (none when reg is
// nil: they work, unexported). It fails if reg already has collectors of these names.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		clients: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "directus_ircd_clients",
			Help: "Open IRC connections, registered or not, by transport (plain, tls, websocket).",
		}, []string{"transport"}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "directus_ircd_registrations_total",
			Help: "Completed IRC registrations, by kind (account, guest).",
		}, []string{"kind"}),
		loginFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "directus_ircd_login_failures_total",
			Help: "Logins (SASL or PASS) and registrations the backend refused, by reason.",
		}, []string{"reason"}),
		linesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "directus_ircd_channel_lines_in_total",
			Help: "Channel messages (PRIVMSG, NOTICE) read from IRC clients and handed to the backend.",
		}),
		linesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "directus_ircd_channel_lines_out_total",
			Help: "Channel message lines queued to channel members (one per line per recipient).",
		}),
		fanout: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "directus_ircd_fanout_duration_seconds",
			Help: "Time from a channel message handed to the IRC server to its last recipient's queue.",
			// 10µs … 2.6s: a fan-out to a few clients takes microseconds, to 5,000 some ms.
			Buckets: prometheus.ExponentialBuckets(10e-6, 4, 10),
		}),
		sendQDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "directus_ircd_sendq_drops_total",
			Help: "Connections dropped because their send queue was full (SendQ exceeded).",
		}),
	}
	// Known label values start at 0, so that rates and alerts work before the first event.
	for _, t := range []string{TransportPlain, TransportTLS, TransportWebSocket} {
		m.clients.WithLabelValues(t)
	}
	m.registrations.WithLabelValues("account")
	m.registrations.WithLabelValues("guest")
	m.loginFailures.WithLabelValues(LoginRefused)
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.clients, m.registrations, m.loginFailures, m.linesIn, m.linesOut, m.fanout, m.sendQDrops} {
		errs = append(errs, reg.Register(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("ircd metrics: %w", err)
	}
	return m, nil
}

// transportOf names a connection's transport for directus_ircd_clients.
func transportOf(conn net.Conn) string {
	switch c := conn.(type) {
	case interface{ Transport() string }:
		return c.Transport()
	case *tls.Conn:
		return TransportTLS
	default:
		return TransportPlain
	}
}

func (m *Metrics) connOpened(conn net.Conn) {
	if m != nil {
		m.clients.WithLabelValues(transportOf(conn)).Inc()
	}
}

func (m *Metrics) connClosed(conn net.Conn) {
	if m != nil {
		m.clients.WithLabelValues(transportOf(conn)).Dec()
	}
}

func (m *Metrics) registered(id *Identity) {
	if m == nil {
		return
	}
	kind := "account"
	if id.Account == "" {
		kind = "guest"
	}
	m.registrations.WithLabelValues(kind).Inc()
}

// loginFailed counts a login the backend refused with err, by its UserError.Reason.
func (m *Metrics) loginFailed(err error) {
	if m == nil {
		return
	}
	reason := LoginRefused
	var ue *UserError
	if errors.As(err, &ue) && ue.Reason != "" {
		reason = ue.Reason
	}
	m.loginFailures.WithLabelValues(reason).Inc()
}

func (m *Metrics) lineIn() {
	if m != nil {
		m.linesIn.Inc()
	}
}

// fannedOut records a Broadcast that started at start and queued lines lines.
func (m *Metrics) fannedOut(start time.Time, lines int) {
	if m != nil {
		m.fanout.Observe(time.Since(start).Seconds())
		m.linesOut.Add(float64(lines))
	}
}

func (m *Metrics) sendQDrop() {
	if m != nil {
		m.sendQDrops.Inc()
	}
}
