package directus

import (
	"context"
	"sync/atomic"
	"time"
)

// Session is a user's renewable Directus login, shared by everything done as that user: one
// refresh chain (refresh tokens are single-use, so renewals are serialised), renewed when the
// access token is due. It keeps no password.
type Session struct {
	s       *session
	renewed atomic.Int64 // unix nanoseconds of the login or last renewal
}

// NewSession wraps the tokens of a login (see Login).
func (c *Client) NewSession(t Tokens) *Session {
	s := &Session{s: &session{c: c, tokens: t, ttl: time.Until(t.Expires)}}
	s.renewed.Store(time.Now().UnixNano())
	return s
}

// AccessToken returns an access token that is not about to expire, renewing the session
// first when it is due.
func (s *Session) AccessToken(ctx context.Context) (string, error) {
	due := time.Now().After(s.s.renewAt())
	tok, err := s.s.accessToken(ctx)
	if err == nil && due {
		s.renewed.Store(time.Now().UnixNano())
	}
	return tok, err
}

// Renew refreshes the session now (a keep-alive, so that an idle session's refresh token
// never reaches Directus's REFRESH_TOKEN_TTL).
func (s *Session) Renew(ctx context.Context) error {
	if _, err := s.s.renew(ctx); err != nil {
		return err
	}
	s.renewed.Store(time.Now().UnixNano())
	return nil
}

// LastRenewed is when the session was created or last renewed.
func (s *Session) LastRenewed() time.Time { return time.Unix(0, s.renewed.Load()) }

// Logout ends the session in Directus; the Session is unusable afterwards.
func (s *Session) Logout(ctx context.Context) error {
	s.s.mu.Lock()
	rt := s.s.tokens.Refresh
	s.s.tokens = Tokens{}
	s.s.mu.Unlock()
	if rt == "" {
		return nil
	}
	return s.s.c.Logout(ctx, rt)
}
