package bridge

import (
	"context"
	"crypto/hmac"
	"crypto/subtle"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/ircd"
)

// Hosts shown in hostmasks: accounts and guests are told apart at a glance.
const (
	accountHost = "directus"
	guestHost   = "guest"
)

// tokenPassPrefix marks a PASS that carries a Directus static token (optional when the
// token contains no colon).
const tokenPassPrefix = "token:"

var errLoginRequired = &ircd.UserError{Text: "This server requires a login: use SASL PLAIN with your Directus email and password, or PASS email:password", Reason: "login_required"}

// AuthenticatePlain implements ircd.Backend: SASL PLAIN with the Directus email (or the
// local part for login.email_domain) and password. An authzid other than the authcid would
// ask to act as someone else, which Directus cannot grant: it is refused.
func (b *Bridge) AuthenticatePlain(ctx context.Context, req ircd.AuthRequest) (*ircd.Identity, error) {
	if req.Authzid != "" && req.Authzid != req.Authcid &&
		!strings.EqualFold(b.dir.loginEmail(req.Authzid), b.dir.loginEmail(req.Authcid)) {
		return nil, &ircd.UserError{Text: "SASL authorization identity must be empty or the same as the login name", Reason: "malformed"}
	}
	return b.passwordLogin(ctx, req.Addr, req.Authcid, req.Password, req.Notice)
}

// Register implements ircd.Backend. With a server password, PASS must be it and accounts
// log in with SASL; without one, PASS is a login: "email:password" or a static token.
func (b *Bridge) Register(ctx context.Context, reg ircd.Registration) (*ircd.Identity, error) {
	if b.cfg.ServerPassword != "" {
		if !reg.HasPass || subtle.ConstantTimeCompare([]byte(reg.Pass), []byte(b.cfg.ServerPassword)) != 1 {
			return nil, &ircd.UserError{Text: "Wrong or missing server password (PASS)", Reason: "server_password"}
		}
		if reg.Login != nil {
			return reg.Login, nil
		}
		if !b.cfg.Guests {
			return nil, &ircd.UserError{Text: "This server requires a login: use SASL PLAIN with your Directus email and password", Reason: "login_required"}
		}
		return b.guest(reg)
	}
	if reg.Login != nil {
		return reg.Login, nil
	}
	if reg.HasPass {
		if tok, ok := strings.CutPrefix(reg.Pass, tokenPassPrefix); ok {
			return b.tokenLogin(reg.Addr, tok)
		}
		if name, password, ok := strings.Cut(reg.Pass, ":"); ok {
			return b.passwordLogin(ctx, reg.Addr, name, password, reg.Notice)
		}
		return b.tokenLogin(reg.Addr, reg.Pass)
	}
	return b.guest(reg)
}

// loginFlight is a password login at Directus in progress. Logins of the same account with
// the same password wait for it and share its result: 40 connections of one account make
// one Directus login, and Directus (which counts an attempt before checking it) never sees a
// burst that could suspend the account.
type loginFlight struct {
	verifier []byte
	done     chan struct{}
	acct     *account // on success, holding one login for the leader
	err      error
}

func (b *Bridge) passwordLogin(ctx context.Context, addr netip.Addr, name, password string, notice func(string)) (*ircd.Identity, error) {
	if name == "" || password == "" {
		return nil, &ircd.UserError{Text: "Login needs a name and a password", Reason: "malformed"}
	}
	email := b.dir.loginEmail(name)
	key := strings.ToLower(email)
	r := b.accounts
	v := r.verifier(key, password)
	for {
		r.mu.Lock()
		if a := r.joinVerifiedLocked(key, v); a != nil {
			r.mu.Unlock()
			return a.identity(), nil
		}
		if f := r.flights[key]; f != nil {
			r.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, &ircd.UserError{Text: "Login abandoned", Cause: ctx.Err(), Reason: "abandoned"}
			}
			if hmac.Equal(f.verifier, v) && f.err != nil {
				return nil, f.err
			}
			continue // now joins the account, or tries its own password
		}
		f := &loginFlight{verifier: v, done: make(chan struct{})}
		r.flights[key] = f
		r.mu.Unlock()
		f.acct, f.err = b.loginAtDirectus(ctx, addr, key, email, password, v, notice)
		r.mu.Lock()
		delete(r.flights, key)
		r.mu.Unlock()
		close(f.done)
		if f.err != nil {
			return nil, f.err
		}
		return f.acct.identity(), nil
	}
}

// loginAtDirectus asks Directus, within the throttle's budget and the login gate's pace.
func (b *Bridge) loginAtDirectus(ctx context.Context, addr netip.Addr, key, email, password string, v []byte, notice func(string)) (*account, error) {
	att, refusal := b.throttle.begin(addr, key)
	if att == nil {
		return nil, &ircd.UserError{Text: refusal, Reason: "throttled"}
	}
	qctx, cancel := context.WithTimeout(ctx, b.cfg.LoginQueueTimeout)
	release, err := b.gate.acquire(qctx, notice)
	cancel()
	if err != nil {
		att.end(loginUndecided)
		return nil, &ircd.UserError{Text: "The server is busy with other logins; try again in a minute", Cause: err, Reason: "busy"}
	}
	// Not tied to the client: a login that Directus completes after the client left is
	// still logged out, when its account ends.
	rctx, rcancel := b.requestContext()
	defer rcancel()
	tokens, err := b.dc.Login(rctx, email, password)
	release()
	if err != nil {
		switch {
		case errors.Is(err, directus.ErrInvalidOTP):
			att.end(loginFailed)
			return nil, &ircd.UserError{Text: "This Directus account uses two-factor authentication, which IRC logins cannot do: log in with a static token (PASS token:<token>) instead", Cause: err, Reason: "otp_required"}
		case errors.Is(err, directus.ErrInvalidCredentials):
			att.end(loginFailed)
			return nil, &ircd.UserError{Text: "Invalid email or password (or the Directus account is not active)", Cause: err, Reason: "bad_credentials"}
		}
		att.end(loginUndecided)
		return nil, unreachable(err)
	}
	att.end(loginSucceeded)
	sess := b.dc.NewSession(tokens)
	a := &account{b: b, sess: sess}
	if err := b.identify(rctx, a, tokens.Access); err != nil {
		b.logoutLater(sess)
		return nil, err
	}
	live, merged := b.accounts.attach(a, v)
	if merged {
		b.logoutLater(sess)
	}
	return live, nil
}

// logoutLater ends a Directus session that is not needed, without delaying the caller.
func (b *Bridge) logoutLater(sess *directus.Session) {
	b.actors.Add(1)
	go func() {
		defer b.actors.Done()
		ctx, cancel := context.WithTimeout(b.life, b.cfg.RequestTimeout)
		defer cancel()
		_ = sess.Logout(ctx)
	}()
}

func (b *Bridge) tokenLogin(addr netip.Addr, token string) (*ircd.Identity, error) {
	att, refusal := b.throttle.begin(addr, tokenAccount(token))
	if att == nil {
		return nil, &ircd.UserError{Text: refusal, Reason: "throttled"}
	}
	ctx, cancel := b.requestContext()
	defer cancel()
	a := &account{b: b, static: token}
	err := b.identify(ctx, a, token)
	switch {
	case errors.Is(err, directus.ErrInvalidCredentials):
		att.end(loginFailed)
		return nil, &ircd.UserError{Text: "Invalid Directus token", Cause: err, Reason: "bad_credentials"}
	case err != nil:
		var ue *ircd.UserError
		if errors.As(err, &ue) && ue.Cause == nil {
			att.end(loginSucceeded) // the token is good; the account may not use IRC
		} else {
			att.end(loginUndecided)
		}
		return nil, err
	}
	att.end(loginSucceeded)
	live, _ := b.accounts.attach(a, nil)
	return live.identity(), nil
}

// identify completes a login: who the token belongs to, their nick, and whether they may
// read the channel (checked once here with one read of a single id). A user who may not
// read the collection has nothing to do on IRC and is refused.
func (b *Bridge) identify(ctx context.Context, a *account, token string) error {
	me, err := b.dc.Me(ctx, token)
	if err != nil {
		if errors.Is(err, directus.ErrInvalidCredentials) {
			return err
		}
		return unreachable(err)
	}
	limit := 1
	_, err = b.dc.ReadItems(ctx, token, b.cfg.Collection, directus.Query{Fields: []string{"id"}, Limit: &limit})
	switch {
	case err == nil:
		a.canRead = true
	case errors.Is(err, directus.ErrForbidden):
		return &ircd.UserError{Text: "Your Directus role may not read " + b.cfg.Collection + ", so it cannot use this chat; ask an administrator", Reason: "may_not_read"}
	default:
		return unreachable(err)
	}
	if me.Email == "" {
		// The user's role may not read its own profile (setup -user-read own): the service
		// token reads it.
		if us, err := b.dc.Users(ctx, b.cfg.ServiceToken, []string{me.ID}); err == nil && len(us) == 1 {
			me = us[0]
		}
	}
	b.dir.learn(user{ID: me.ID, Email: me.Email, FirstName: me.FirstName, Status: me.Status})
	a.userID, a.email = me.ID, me.Email
	a.name = b.dir.account(me.Email)
	a.nick, _ = b.dir.nick(me.ID)
	return nil
}

// identity is what IRC knows of a login of a.
func (a *account) identity() *ircd.Identity {
	if a.guest {
		return &ircd.Identity{Nick: a.nick, Host: guestHost, NickSuffix: a.b.cfg.GuestSuffix, Session: &conn{acct: a}}
	}
	return &ircd.Identity{Account: a.name, Nick: a.nick, Host: accountHost, NickLocked: true, Session: &conn{acct: a}}
}

func (b *Bridge) guest(reg ircd.Registration) (*ircd.Identity, error) {
	if !b.cfg.Guests {
		return nil, errLoginRequired
	}
	nick := reg.Nick
	if !strings.HasSuffix(nick, b.cfg.GuestSuffix) {
		nick = truncate(nick, maxNickLen) + b.cfg.GuestSuffix
	}
	a := &account{b: b, guest: true, nick: nick, canRead: true, static: b.cfg.ServiceToken}
	live, _ := b.accounts.attach(a, nil)
	return live.identity(), nil
}

// Registered is told the client of a completed registration, so that the bridge can reach
// it later (revocation, refusals of held messages).
func (b *Bridge) Registered(c *ircd.Client) {
	a := acctOf(c)
	if a == nil {
		return
	}
	r := b.accounts
	r.mu.Lock()
	if !a.revoked {
		a.conns[c] = struct{}{}
	}
	revoked := a.revoked
	r.mu.Unlock()
	if revoked {
		c.Disconnect("Your Directus session has ended; please log in again")
	}
}

// Disconnected implements ircd.Backend: the connection's hold on its account ends. It never
// waits for Directus: the account logs out on its own goroutine once its held messages
// are done.
func (b *Bridge) Disconnected(c *ircd.Client) {
	a := acctOf(c)
	if a == nil {
		return
	}
	r := b.accounts
	r.mu.Lock()
	delete(a.conns, c)
	r.mu.Unlock()
	a.release()
}

func unreachable(err error) error {
	return &ircd.UserError{Text: "Directus is unreachable or failed; try again later", Cause: err, Reason: "directus_unreachable"}
}

func roundUp(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(time.Second) + time.Second
	}
	return d.Round(time.Minute) + time.Minute
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
