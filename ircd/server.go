package ircd

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/directus-ircd/directus-ircd/internal/waitctx"
	"github.com/ergochat/irc-go/ircmsg"
	"github.com/rs/zerolog"
)

// Server is an IRC server with one channel.
type Server struct {
	backend Backend
	log     zerolog.Logger
	metrics *Metrics // nil-safe
	created time.Time
	config  atomic.Pointer[Config]
	nextID  atomic.Uint64
	batchID atomic.Uint64
	wg      sync.WaitGroup // connection goroutines

	// deliverMu puts channel traffic from the backend (Deliver, Broadcast, Edited, Redact) in
	// one order, the same for every member; it is taken before mu and held across a fan-out,
	// which only queues, so it never waits for a client.
	deliverMu sync.Mutex

	mu        sync.RWMutex
	clients   map[*Client]struct{} // every open connection
	perIP     map[netip.Addr]int
	users     map[string]*user // registered nicks, by casefolded nick
	members   []*Client        // connections joined (or joining) the channel: broadcast recipients
	onChannel []*user          // users with a joined connection, by casefolded nick (NAMES order)
	regConns  int              // registered connections (attached to a user)
	peakUsers int              // most nicks at once since the start (LUSERS "max")
	topic     string
	topicBy   string
	topicTime time.Time
	replay    replayLog // recent channel messages, replayed on JOIN
	listeners map[net.Listener]struct{}
	shutdown  bool // no new connections
	draining  bool // Drain has started

	drainStart chan struct{}  // closed when Drain starts
	quiet      sync.WaitGroup // connections Drain waits for to go quiet
	closeNow   chan struct{}  // closed when Shutdown closes the connections
	closeOnce  sync.Once

	tickOnce sync.Once
	tickStop chan struct{}
	tickDone chan struct{}
}

// user is a nick and the connections that share it (several for one account).
type user struct {
	nick     string
	folded   string
	account  string
	ident    string
	host     string
	realname string
	away     string
	modes    string // user modes: "" or "i"
	signon   time.Time
	spoke    atomic.Int64 // unix seconds of the last channel or private message
	conns    []*Client
	joined   int // connections of this user joined to the channel; the user is on it if > 0
}

func (u *user) prefix() string { return u.nick + "!" + u.ident + "@" + u.host }

// NewServer makes a server; it starts nothing until Serve or ServeConn.
func NewServer(cfg Config, b Backend, log zerolog.Logger) *Server {
	cfg = withDefaults(cfg)
	s := &Server{
		backend:   b,
		log:       log,
		metrics:   cfg.Metrics,
		created:   time.Now(),
		clients:   make(map[*Client]struct{}),
		perIP:     make(map[netip.Addr]int),
		users:     make(map[string]*user),
		listeners: make(map[net.Listener]struct{}),
		topic:     cfg.Topic,
		topicBy:   cfg.ServerName,
		topicTime: time.Now(),
		replay:    replayLog{max: cfg.History},
		tickStop:  make(chan struct{}),
		tickDone:  make(chan struct{}),

		drainStart: make(chan struct{}),
		closeNow:   make(chan struct{}),
	}
	s.config.Store(&cfg)
	return s
}

func (s *Server) cfg() *Config { return s.config.Load() }

// Serve accepts connections on ln until ctx is done, Shutdown is called or ln fails. Several
// listeners may be served at once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		return errors.New("ircd: server is shut down")
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()

	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || s.isShutdown() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn().Err(err).Stringer("retry_in", backoff).Msg("accept failed")
				select {
				case <-time.After(backoff):
					continue
				case <-ctx.Done():
					return nil
				}
			}
			return err
		}
		backoff = 0
		go s.ServeConn(ctx, conn)
	}
}

// isTemporary reports accept errors worth retrying (out of file descriptors and the like).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) isShutdown() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.shutdown
}

// ServeConn serves one connection in the calling goroutine (the connection's reader; a second
// goroutine writes) and returns when it is closed. When ctx is done the client is disconnected.
func (s *Server) ServeConn(ctx context.Context, conn net.Conn) {
	c, stop := s.open(ctx, conn)
	if c == nil {
		return
	}
	// The reader spends its life parked in readLoop: keeping this frame small lets the
	// runtime shrink an idle connection's stack after registration grew it.
	c.readLoop()
	stop()
	s.remove(c)
	s.wg.Done()
}

// open admits a connection and starts its writer, or refuses it with an ERROR line (nil).
// stop ends the server-shutdown watch. Not inlined: its locals would be ServeConn's frame.
//
//go:noinline
func (s *Server) open(ctx context.Context, conn net.Conn) (c *Client, stop func() bool) {
	s.tickOnce.Do(func() { go s.tickLoop() })
	cfg := s.cfg()
	c = newClient(s, ctx, conn, cfg)
	if reason := s.admit(c, cfg); reason != "" {
		c.log.Info().Str("reason", reason).Msg("connection refused")
		if line := serialize(ircmsg.MakeMessage(nil, "", "ERROR", reason), c.log); line != nil {
			_ = conn.SetWriteDeadline(time.Now().Add(closeGrace))
			_, _ = conn.Write(line)
		}
		_ = conn.Close()
		c.cancel()
		return nil, nil
	}
	c.log.Debug().Msg("connection opened")
	s.metrics.connOpened(conn)
	stop = context.AfterFunc(ctx, func() { c.Disconnect("server shutting down") })
	go c.writeLoop()
	return c, stop
}

// admit registers a new connection, or says why it is refused.
func (s *Server) admit(c *Client, cfg *Config) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.shutdown:
		return "server shutting down"
	case cfg.MaxClients > 0 && len(s.clients) >= cfg.MaxClients:
		return "Too many connections to this server, try again later"
	case cfg.MaxClientsPerIP > 0 && s.perIP[c.addr] >= cfg.MaxClientsPerIP:
		return "Too many connections from your address (" + strconv.Itoa(cfg.MaxClientsPerIP) + ")"
	}
	s.clients[c] = struct{}{}
	s.perIP[c.addr]++
	s.wg.Add(2) // reader (ServeConn) and writer
	return ""
}

// remove forgets a closed connection: it leaves the channel and its nick, and the backend is told.
func (s *Server) remove(c *Client) {
	c.cancel()
	s.metrics.connClosed(c.conn)
	s.mu.Lock()
	delete(s.clients, c)
	if s.perIP[c.addr]--; s.perIP[c.addr] <= 0 {
		delete(s.perIP, c.addr)
	}
	registered := c.u != nil
	s.releaseNickLocked(c, c.quitMessage())
	s.mu.Unlock()
	// After the unlock: a Drain that counted c (under s.mu) has marked it pending by now.
	c.markQuiet()
	if c.reg.identity != nil || c.reg.login != nil {
		s.backend.Disconnected(c)
	}
	c.log.Debug().Bool("registered", registered).Msg("connection closed")
}

func (c *Client) quitMessage() string {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.quitReason == "" {
		return "Connection closed"
	}
	return c.quitReason
}

// attach gives c the nick: a free nick is claimed, a nick held by the same non-empty account is
// shared. It reports false when the nick belongs to someone else.
func (s *Server) attach(c *Client, nick, ident, host, realname string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	folded := Casefold(nick)
	u := s.users[folded]
	account := c.Account()
	switch {
	case u == nil:
		u = &user{nick: nick, folded: folded, account: account, ident: ident, host: host,
			realname: realname, signon: time.Now()}
		s.users[folded] = u
		s.peakUsers = max(s.peakUsers, len(s.users))
	case account == "" || u.account != account:
		return false
	}
	u.conns = append(u.conns, c)
	c.u = u
	s.regConns++
	return true
}

// releaseNickLocked detaches a registered connection from its nick and the channel, once
// (at QUIT, else when the connection is removed).
func (s *Server) releaseNickLocked(c *Client, reason string) {
	if c.u != nil && !c.released {
		c.released = true
		s.detachLocked(c, reason)
	}
}

// detachLocked removes c from its nick and the channel; the last connection of a nick takes it
// away and QUITs it from the channel. Called with s.mu held.
func (s *Server) detachLocked(c *Client, reason string) {
	u := c.u
	u.conns = slices.DeleteFunc(u.conns, func(x *Client) bool { return x == c })
	s.regConns--
	if c.joinState != notJoined {
		var leaveMsg func(*user) ircmsg.Message // none at shutdown: everyone is leaving
		if !s.shutdown {
			leaveMsg = func(u *user) ircmsg.Message {
				if len(u.conns) == 0 {
					return ircmsg.MakeMessage(nil, u.prefix(), "QUIT", "Quit: "+reason)
				}
				return ircmsg.MakeMessage(nil, u.prefix(), "PART", s.cfg().Channel, "Connection closed")
			}
		}
		s.leaveLocked(c, leaveMsg)
	}
	if len(u.conns) == 0 && s.users[u.folded] == u {
		delete(s.users, u.folded)
	}
}

// counts returns the number of registered users (nicks) and of unregistered connections.
func (s *Server) counts() (users, unknown int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.users), len(s.clients) - s.regConns
}

// maxUsers is the most nicks there were at once since the server started.
func (s *Server) maxUsers() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.peakUsers
}

// ClientCount is the number of open connections, registered or not.
func (s *Server) ClientCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.clients)
}

// Drain is the first phase of a graceful stop. It stops accepting, and every reader goes on
// reading without flood delays until its client has been quiet for drainQuietWindow, so
// that each line a client sent before the stop is handled (a channel message is stored or
// refused by name by the backend). It returns once every connection is quiet or gone, or
// when ctx ends. Connections stay open, so that the backend can still answer them (held
// messages); Shutdown closes them. Readers keep handling what arrives until then.
func (s *Server) Drain(ctx context.Context) {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		s.waitQuiet(ctx)
		return
	}
	s.draining = true
	s.shutdown = true
	for ln := range s.listeners {
		_ = ln.Close()
	}
	clients := make([]*Client, 0, len(s.clients))
	for c := range s.clients {
		clients = append(clients, c)
	}
	s.quiet.Add(len(clients))
	for _, c := range clients {
		c.drainPending.Store(true)
	}
	s.mu.Unlock()
	close(s.drainStart) // wakes readers that sit in a flood delay
	for _, c := range clients {
		c.draining.Store(true)
		_ = c.conn.SetReadDeadline(time.Now().Add(drainQuietWindow))
	}
	s.waitQuiet(ctx)
}

func (s *Server) waitQuiet(ctx context.Context) { _ = waitctx.Wait(ctx, &s.quiet) }

// Shutdown stops the server: after Drain (run here first if it was not), each connection
// gets ERROR :server shutting down after its pending replies, is closed, and its goroutines
// are waited for. When ctx ends first, the connections are closed at once and ctx's error
// is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Drain(ctx)
	s.mu.Lock()
	clients := make([]*Client, 0, len(s.clients))
	for c := range s.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	s.closeOnce.Do(func() { close(s.closeNow) })
	s.tickOnce.Do(func() { close(s.tickDone) }) // never started
	select {
	case <-s.tickStop:
	default:
		close(s.tickStop)
	}
	// Readers see closeNow at their next read: a parked one is woken by the deadline.
	for _, c := range clients {
		_ = c.conn.SetReadDeadline(time.Now())
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		<-s.tickDone
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range clients {
			_ = c.conn.Close()
		}
		<-done
		return ctx.Err()
	}
}

func (s *Server) closing() bool {
	select {
	case <-s.closeNow:
		return true
	default:
		return false
	}
}

// tickLoop is the server's one timer: registration timeouts, PINGs and ping timeouts.
func (s *Server) tickLoop() {
	defer close(s.tickDone)
	cfg := s.cfg()
	interval := min(cfg.RegistrationTimeout, cfg.PingInterval, cfg.PingTimeout) / 4
	interval = min(max(interval, 10*time.Millisecond), time.Second)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.tickStop:
			return
		case now := <-t.C:
			s.tick(now)
		}
	}
}

func (s *Server) tick(now time.Time) {
	cfg := s.cfg()
	s.mu.RLock()
	clients := make([]*Client, 0, len(s.clients))
	for c := range s.clients {
		clients = append(clients, c)
	}
	s.mu.RUnlock()
	ping := serialize(ircmsg.MakeMessage(nil, "", "PING", cfg.ServerName), s.log)
	for _, c := range clients {
		if !c.isRegistered() {
			// A login waiting for the backend (queued behind a reconnect wave) is bounded
			// by the backend, not by the registration timeout.
			if now.Sub(c.created) > cfg.RegistrationTimeout && !c.inBackend.Load() {
				c.Disconnect("Registration timeout")
			}
			continue
		}
		idle := now.Sub(time.Unix(0, c.lastActive.Load()))
		sent := c.pingSent.Load()
		switch {
		case sent != 0 && now.Sub(time.Unix(0, sent)) > cfg.PingTimeout:
			c.Disconnect("Ping timeout: " + strconv.Itoa(int(idle.Seconds())) + " seconds")
		case sent == 0 && idle > cfg.PingInterval:
			c.pingSent.Store(now.UnixNano())
			c.enqueue([][]byte{ping}, "", false)
		}
	}
}
