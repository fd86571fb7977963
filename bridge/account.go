package bridge

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"sync"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/ircd"
)

// account is one login's state, shared by all of its IRC connections: a Directus user with one
// Directus session (one login, one refresh chain, one create socket opened on demand), or a
// guest connection, which writes with the service token. Alice on her phone and her laptop
// is one account.
//
// The account owns its create path: every create, the held messages and the end of the
// session run as functions handed to the account (send) and executed one after another by
// its goroutine, which exists while there is work. So a user's messages are created in the
// order sent, held ones first, and the session is logged out only after the held messages
// are done, even when the connections that sent them are gone.
type account struct {
	b       *Bridge
	userID  string // "" for a guest
	email   string
	name    string // account name on IRC; "" for a guest
	nick    string
	guest   bool
	canRead bool

	static string            // a static token login (a guest uses the service token)
	sess   *directus.Session // a password login; nil with a static token

	// held is owned by the goroutine that runs the mailbox; ws has its own lock, so that the
	// user sweep can close it when idle.
	ws   creator
	held []*outEntry

	mq      sync.Mutex
	mail    []func()
	running bool
	ended   bool

	// Guarded by b.accounts.mu.
	verifier []byte                    // keyed hash of the password that logged in; nil without
	refs     int                       // logins holding the account: connections, registered or not
	conns    map[*ircd.Client]struct{} // registered connections
	revoked  bool
}

// send hands f to the account's goroutine (started when idle). It reports false when the
// account has ended.
func (a *account) send(f func()) bool {
	a.mq.Lock()
	defer a.mq.Unlock()
	if a.ended {
		return false
	}
	a.mail = append(a.mail, f)
	if !a.running {
		a.running = true
		a.b.actors.Add(1)
		go a.run()
	}
	return true
}

// run executes the mailbox until it is empty.
func (a *account) run() {
	defer a.b.actors.Done()
	for {
		a.mq.Lock()
		if len(a.mail) == 0 {
			a.running = false
			a.mq.Unlock()
			return
		}
		f := a.mail[0]
		a.mail[0] = nil
		a.mail = a.mail[1:]
		a.mq.Unlock()
		f()
	}
}

// call runs f on the account's goroutine and waits for it. It reports false when the
// account has ended.
func (a *account) call(f func()) bool {
	done := make(chan struct{})
	if !a.send(func() { defer close(done); f() }) {
		return false
	}
	<-done
	return true
}

// release drops one login's hold on the account; the last one ends it once its held
// messages are done.
func (a *account) release() {
	r := a.b.accounts
	r.mu.Lock()
	a.refs--
	last := a.refs <= 0
	r.mu.Unlock()
	if last {
		a.send(a.maybeEnd)
	}
}

// maybeEnd ends an account that no login holds and that holds no message: it is forgotten,
// its socket closed and its Directus session logged out. Runs on the account's goroutine.
func (a *account) maybeEnd() {
	r := a.b.accounts
	r.mu.Lock()
	if a.refs > 0 || len(a.held) > 0 {
		r.mu.Unlock()
		return
	}
	r.forgetLocked(a)
	r.mu.Unlock()
	a.mq.Lock()
	a.ended = true
	a.mq.Unlock()
	a.ws.closeIdle(0)
	if a.sess != nil {
		ctx, cancel := context.WithTimeout(a.b.life, a.b.cfg.RequestTimeout)
		defer cancel()
		if err := a.sess.Logout(ctx); err != nil {
			a.b.log.Debug().Err(err).Str("account", a.name).Msg("logout failed")
		}
	}
}

// accessToken is the token to act as this account with.
func (a *account) accessToken(ctx context.Context) (string, error) {
	if a.sess == nil {
		return a.static, nil
	}
	return a.sess.AccessToken(ctx)
}

// someConn is a connection of the account to tell something, preferring c; nil if none.
func (a *account) someConn(c *ircd.Client) *ircd.Client {
	r := a.b.accounts
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := a.conns[c]; ok {
		return c
	}
	for x := range a.conns {
		return x
	}
	return nil
}

// accounts indexes the live accounts, and the password logins in flight.
type accounts struct {
	mu      sync.Mutex
	byID    map[string]*account   // Directus users
	byEmail map[string]*account   // Directus users, by lower-case email
	all     map[*account]struct{} // every live account, guests included
	holding map[*account]struct{} // accounts with held messages
	flights map[string]*loginFlight
	pwKey   [32]byte // keys the password verifiers; random per process
}

func newAccounts() *accounts {
	r := &accounts{byID: map[string]*account{}, byEmail: map[string]*account{}, all: map[*account]struct{}{},
		holding: map[*account]struct{}{}, flights: map[string]*loginFlight{}}
	_, _ = rand.Read(r.pwKey[:]) // never fails (crypto/rand)
	return r
}

// verifier is a keyed hash of a login's password, so that another connection of a logged-in
// account can be let in without asking Directus again. The password itself is not kept.
func (r *accounts) verifier(email, password string) []byte {
	m := hmac.New(sha256.New, r.pwKey[:])
	m.Write([]byte(email))
	m.Write([]byte{0})
	m.Write([]byte(password))
	return m.Sum(nil)
}

// joinVerifiedLocked takes a hold on the live account of email whose password verifier is v.
func (r *accounts) joinVerifiedLocked(email string, v []byte) *account {
	a := r.byEmail[email]
	if a == nil || a.revoked || a.verifier == nil || !hmac.Equal(a.verifier, v) {
		return nil
	}
	a.refs++
	return a
}

// attach makes a a live account holding one login, or, when the user already has a live
// account, takes a hold on that one instead (and reports that a is not needed).
func (r *accounts) attach(a *account, v []byte) (live *account, merged bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a.userID != "" {
		if old := r.byID[a.userID]; old != nil && !old.revoked {
			old.refs++
			if old.verifier == nil {
				old.verifier = v
			}
			return old, true
		}
		r.byID[a.userID] = a
		r.byEmail[strings.ToLower(a.email)] = a
	}
	a.verifier = v
	a.refs = 1
	a.conns = map[*ircd.Client]struct{}{}
	r.all[a] = struct{}{}
	return a, false
}

// forgetLocked removes a from the indexes (it ended or was revoked).
func (r *accounts) forgetLocked(a *account) {
	if r.byID[a.userID] == a {
		delete(r.byID, a.userID)
	}
	if r.byEmail[strings.ToLower(a.email)] == a {
		delete(r.byEmail, strings.ToLower(a.email))
	}
	delete(r.all, a)
	delete(r.holding, a)
}

func (r *accounts) setHolding(a *account, holding bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if holding {
		r.holding[a] = struct{}{}
	} else {
		delete(r.holding, a)
	}
}

// holders lists the accounts with held messages.
func (r *accounts) holders() []*account { return r.snapshot(r.holding) }

// list lists every live account.
func (r *accounts) list() []*account { return r.snapshot(r.all) }

func (r *accounts) snapshot(set map[*account]struct{}) []*account {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*account, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	return out
}

// users lists the Directus users with a live account.
func (r *accounts) users() map[string]*account {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]*account, len(r.byID))
	for id, a := range r.byID {
		out[id] = a
	}
	return out
}

// revoke ends a user's account for every connection, with the reason, except the one the
// caller tells itself; nobody else is affected. New logins get a new account.
func (b *Bridge) revoke(a *account, reason string, except *ircd.Client) {
	r := b.accounts
	r.mu.Lock()
	if a.revoked {
		r.mu.Unlock()
		return
	}
	a.revoked = true
	if r.byID[a.userID] == a {
		delete(r.byID, a.userID)
	}
	if r.byEmail[strings.ToLower(a.email)] == a {
		delete(r.byEmail, strings.ToLower(a.email))
	}
	conns := make([]*ircd.Client, 0, len(a.conns))
	for c := range a.conns {
		if c != except {
			conns = append(conns, c)
		}
	}
	r.mu.Unlock()
	if len(conns) > 0 {
		b.log.Info().Str("account", a.name).Msg("disconnecting revoked user")
	}
	for _, c := range conns {
		c.Disconnect(reason)
	}
}

// conn is one connection's login (ircd.Identity.Session).
type conn struct {
	acct *account
}

func acctOf(c *ircd.Client) *account {
	if s, ok := c.Session().(*conn); ok {
		return s.acct
	}
	return nil
}
