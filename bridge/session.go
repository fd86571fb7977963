package bridge

import (
	"context"
	"sync"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/ircd"
)

// session is one IRC connection's login: a Directus user with its tokens, or a guest. It
// keeps no password. Tokens from a password login are refreshed when about to expire
// (refresh tokens are single-use, so one refresh at a time); a static token never expires.
type session struct {
	userID  string // "" for a guest
	email   string
	account string
	nick    string
	guest   bool
	canRead bool

	client *ircd.Client // set once registered
	ws     creator      // socket for this session's creates, open while in use

	mu          sync.Mutex
	static      string // static token login
	tokens      directus.Tokens
	refreshedAt time.Time
	revoked     bool
}

// refreshMargin is how long before expiry an access token is renewed: 30 s, or a third of
// the token's lifetime when ACCESS_TOKEN_TTL is short.
func (s *session) refreshMargin() time.Duration {
	return min(30*time.Second, s.tokens.Expires.Sub(s.refreshedAt)/3)
}

// accessToken returns a token that is not about to expire, refreshing it if needed.
func (s *session) accessToken(ctx context.Context, dc *directus.Client) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.static != "" {
		return s.static, nil
	}
	if time.Until(s.tokens.Expires) > s.refreshMargin() {
		return s.tokens.Access, nil
	}
	return s.refreshLocked(ctx, dc)
}

// refresh renews the tokens now (keep-alive of an idle session).
func (s *session) refresh(ctx context.Context, dc *directus.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.static != "" {
		return nil
	}
	_, err := s.refreshLocked(ctx, dc)
	return err
}

func (s *session) refreshLocked(ctx context.Context, dc *directus.Client) (string, error) {
	t, err := dc.Refresh(ctx, s.tokens.Refresh)
	if err != nil {
		return "", err
	}
	s.tokens = t
	s.refreshedAt = time.Now()
	return t.Access, nil
}

func (s *session) lastRefresh() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshedAt
}

// logout ends the Directus session (best effort, when the connection goes away).
func (s *session) logout(ctx context.Context, dc *directus.Client) {
	s.mu.Lock()
	rt := s.tokens.Refresh
	s.tokens = directus.Tokens{}
	s.mu.Unlock()
	if rt != "" {
		_ = dc.Logout(ctx, rt)
	}
}

// sessions indexes live sessions by Directus user id, for revocation.
type sessions struct {
	mu     sync.Mutex
	byUser map[string]map[*session]struct{}
}

func newSessions() *sessions { return &sessions{byUser: map[string]map[*session]struct{}{}} }

func (ss *sessions) add(s *session) {
	if s.userID == "" {
		return
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	m := ss.byUser[s.userID]
	if m == nil {
		m = map[*session]struct{}{}
		ss.byUser[s.userID] = m
	}
	m[s] = struct{}{}
}

func (ss *sessions) remove(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if m := ss.byUser[s.userID]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(ss.byUser, s.userID)
		}
	}
}

// userIDs lists the users with at least one connection.
func (ss *sessions) userIDs() []string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ids := make([]string, 0, len(ss.byUser))
	for id := range ss.byUser {
		ids = append(ids, id)
	}
	return ids
}

// of lists a user's sessions.
func (ss *sessions) of(userID string) []*session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := make([]*session, 0, len(ss.byUser[userID]))
	for s := range ss.byUser[userID] {
		out = append(out, s)
	}
	return out
}

// all lists every user session.
func (ss *sessions) all() []*session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var out []*session
	for _, m := range ss.byUser {
		for s := range m {
			out = append(out, s)
		}
	}
	return out
}
