// Package bridge joins the IRC server (package ircd) to Directus (package directus): it is the
// only package that knows both. It implements ircd.Backend and directus.StreamHandler.
//
// Directus cost does not grow with IRC users: one WebSocket connection with one subscription,
// authenticated with the bridge service token, feeds every IRC client. Users log in over
// REST and refresh their token when it is about to expire; a user who writes creates over a
// WebSocket of their own, opened on demand and closed when idle, so an idle user holds no
// Directus socket.
//
// Delivery: each item id reaches IRC once. A PRIVMSG from IRC is broadcast to the other
// clients as soon as Directus acknowledges the create; the subscription event for the same
// item is then recognised by id (or, when it overtakes the acknowledgement, by the item's
// irc_key) and not delivered again.
package bridge

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/ircd"
)

// Config is what the bridge needs to know; cmd/directus-ircd fills it from the config file.
type Config struct {
	Collection     string
	History        int // the newest messages read at start for ircd's JOIN replay
	BackfillMax    int // most messages delivered after an outage (newest first); 0: 500
	EmailDomain    string
	ServerPassword string
	ServiceToken   string

	Guests        bool
	GuestsMayPost bool
	GuestSuffix   string

	FailuresPerAddress int
	FailuresPerAccount int
	FailureWindow      time.Duration
	RevocationCheck    time.Duration
	// SessionKeepAlive is how often an idle user's refresh token is renewed so that it never
	// reaches Directus's REFRESH_TOKEN_TTL (7 days by default).
	SessionKeepAlive time.Duration

	// LoginConcurrency bounds the password logins in flight at Directus (a fair queue holds
	// the others); LoginQueueTimeout bounds a login's wait in that queue.
	LoginConcurrency  int
	LoginQueueTimeout time.Duration

	QueuePerUser   int
	QueueTotal     int
	QueueMaxWait   time.Duration
	RequestTimeout time.Duration

	Metrics *Metrics // NewMetrics; nil records nothing
}

// Server is the part of *ircd.Server the bridge uses.
type Server interface {
	Deliver(m ircd.Message, except *ircd.Client)
	SeedHistory(msgs []ircd.Message)
	HistoryIDs() []string
	Edited(m ircd.Message, onlyKnown bool)
	NoticeAll(text string)
	Redact(r ircd.Redaction)
}

// Bridge is the running bridge. Create it with New, give it the IRC server with Attach, then Run.
type Bridge struct {
	cfg     Config
	dc      *directus.Client
	log     zerolog.Logger
	srv     Server
	metrics *Metrics // nil-safe

	dir        *directory
	throttle   *throttle
	gate       *loginGate
	delivery   *delivery
	accounts   *accounts
	redactions *redactions

	heldTotal atomic.Int64           // messages held by all accounts
	wake      chan struct{}          // Directus is back: create held messages
	actors    sync.WaitGroup         // account goroutines and background logouts
	serviceID atomic.Pointer[string] // the service user's id: the author of guest posts

	// life bounds every Directus request the bridge makes; stop cancels it at the very end
	// of a shutdown.
	life context.Context
	stop context.CancelFunc

	online  atomic.Bool
	status  statusBox // Status(): why the subscription is not live
	everUp  atomic.Bool
	up      chan struct{} // closed when the subscription is first live
	closing atomic.Bool
}

// New makes a bridge; it talks to Directus only once Run starts.
func New(cfg Config, dc *directus.Client, log zerolog.Logger) *Bridge {
	if cfg.SessionKeepAlive <= 0 {
		cfg.SessionKeepAlive = 24 * time.Hour
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 15 * time.Second
	}
	if cfg.LoginConcurrency <= 0 {
		cfg.LoginConcurrency = 4
	}
	if cfg.LoginQueueTimeout <= 0 {
		cfg.LoginQueueTimeout = 5 * time.Minute
	}
	b := &Bridge{
		cfg:        cfg,
		dc:         dc,
		log:        log,
		dir:        newDirectory(cfg.EmailDomain),
		throttle:   newThrottle(cfg.FailuresPerAddress, cfg.FailuresPerAccount, cfg.FailureWindow),
		gate:       newLoginGate(cfg.LoginConcurrency),
		accounts:   newAccounts(),
		delivery:   newDelivery(),
		redactions: newRedactions(),
		wake:       make(chan struct{}, 1),
		up:         make(chan struct{}),
	}
	b.life, b.stop = context.WithCancel(context.Background())
	b.metrics = cfg.Metrics.observe(b)
	return b
}

// Attach gives the bridge the IRC server it delivers to. Call it before Run.
func (b *Bridge) Attach(s Server) { b.srv = s }

// Up is closed once the Directus subscription has been live (the daemon is ready to serve).
func (b *Bridge) Up() <-chan struct{} { return b.up }

// Ready reports whether the Directus subscription is live.
func (b *Bridge) Ready() bool { return b.online.Load() }

// Run keeps the Directus subscription, the outbox and the session checks going until ctx ends.
func (b *Bridge) Run(ctx context.Context) error {
	if b.srv == nil {
		return errors.New("bridge: Run before Attach")
	}
	// A wrong service token would otherwise be retried for ever; an unreachable Directus is
	// waited for by the stream.
	if err := b.checkServiceToken(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); b.runOutbox(ctx) }()
	go func() { defer wg.Done(); b.runSweep(ctx) }()
	err := b.dc.RunStream(ctx, directus.Credentials{StaticToken: b.cfg.ServiceToken},
		b.cfg.Collection, b.subscriptionQuery(), streamHandler{b})
	wg.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// ErrServiceToken means Directus does not accept directus.token.
var ErrServiceToken = errors.New("directus.token is not accepted by Directus (run `directus-ircd setup -config FILE` to create or repair it)")

func (b *Bridge) checkServiceToken(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	me, err := b.dc.Me(rctx, b.cfg.ServiceToken)
	if errors.Is(err, directus.ErrInvalidCredentials) {
		return ErrServiceToken
	}
	if err == nil {
		b.serviceID.Store(&me.ID)
	}
	return nil
}

// requestContext bounds one Directus request. It is not tied to the IRC connection, so a
// create that has been sent is finished even if its sender disconnects meanwhile.
func (b *Bridge) requestContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.life, b.cfg.RequestTimeout)
}
