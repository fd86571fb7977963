package directus

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Tokens is a Directus session: a short-lived access token (a JWT) and a
// single-use refresh token. Its String method never prints the tokens.
type Tokens struct {
	Access  string
	Refresh string
	Expires time.Time // when Access expires, measured conservatively from the request's start
}

func (t Tokens) String() string {
	return fmt.Sprintf("directus.Tokens{expires %s}", t.Expires.Format(time.RFC3339))
}
func (t Tokens) GoString() string { return t.String() }

type authReply struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Expires      int64  `json:"expires"` // milliseconds
}

// Login logs in with email and password (POST /auth/login, mode json).
// Directus pads every login to at least 500 ms, and about 25 failures
// suspend the account.
func (c *Client) Login(ctx context.Context, email, password string) (Tokens, error) {
	body := map[string]string{"email": email, "password": password, "mode": "json"}
	return c.tokenRequest(ctx, "/auth/login", body)
}

// Refresh exchanges a refresh token for a new session (POST /auth/refresh,
// mode json). Refresh tokens rotate: the old one is invalid afterwards.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	body := map[string]string{"refresh_token": refreshToken, "mode": "json"}
	return c.tokenRequest(ctx, "/auth/refresh", body)
}

// Logout ends the session of refreshToken (POST /auth/logout).
func (c *Client) Logout(ctx context.Context, refreshToken string) error {
	body := map[string]string{"refresh_token": refreshToken, "mode": "json"}
	return c.Do(ctx, "", http.MethodPost, "/auth/logout", body, nil)
}

func (c *Client) tokenRequest(ctx context.Context, path string, body any) (Tokens, error) {
	start := time.Now()
	var r authReply
	if err := c.Do(ctx, "", http.MethodPost, path, body, &r); err != nil {
		return Tokens{}, err
	}
	if r.AccessToken == "" || r.RefreshToken == "" || r.Expires <= 0 {
		return Tokens{}, protocolError("POST "+path, "incomplete token reply")
	}
	return Tokens{
		Access:  r.AccessToken,
		Refresh: r.RefreshToken,
		Expires: start.Add(time.Duration(r.Expires) * time.Millisecond),
	}, nil
}

// Credentials authenticate a WebSocket connection. Set exactly one form:
// Email+Password, AccessToken (a JWT; the connection ends with
// ErrTokenExpired when it expires), RefreshToken (spent at once: see
// Conn.RefreshToken) or StaticToken (a user's static token; never expires).
// Its String method never prints secrets.
type Credentials struct {
	Email, Password string
	AccessToken     string
	RefreshToken    string
	StaticToken     string
}

func (cr Credentials) String() string { return "directus.Credentials{" + cr.kind() + "}" }

func (cr Credentials) GoString() string { return cr.String() }

func (cr Credentials) kind() string {
	switch {
	case cr.Email != "":
		return "email " + cr.Email
	case cr.AccessToken != "":
		return "access token"
	case cr.RefreshToken != "":
		return "refresh token"
	case cr.StaticToken != "":
		return "static token"
	}
	return "none"
}

func (cr Credentials) validate() error {
	n := 0
	for _, set := range []bool{cr.Email != "" || cr.Password != "", cr.AccessToken != "", cr.RefreshToken != "", cr.StaticToken != ""} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return errors.New("directus: credentials: set exactly one of email+password, access token, refresh token, static token")
	case (cr.Email == "") != (cr.Password == ""):
		return errors.New("directus: credentials: email and password go together")
	}
	return nil
}

// session is the token state behind a connection. Sessions from email and
// password or a refresh token are renewable over REST; token credentials are
// used as they are.
type session struct {
	c    *Client
	cred Credentials

	mu     sync.Mutex
	tokens Tokens
	ttl    time.Duration // lifetime of the current access token
}

func (c *Client) newSession(cred Credentials) *session {
	return &session{c: c, cred: cred, tokens: Tokens{Refresh: cred.RefreshToken}}
}

func (s *session) renewable() bool { return s.cred.AccessToken == "" && s.cred.StaticToken == "" }

func (s *session) current() Tokens {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens
}

// renewAt is when to renew the current access token: a third of its
// lifetime, at most a minute, before it expires.
func (s *session) renewAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens.Expires.Add(-min(s.ttl/3, time.Minute))
}

// accessToken returns a token to authenticate with, renewing the session
// when it is missing or due.
func (s *session) accessToken(ctx context.Context) (string, error) {
	switch {
	case s.cred.StaticToken != "":
		return s.cred.StaticToken, nil
	case s.cred.AccessToken != "":
		return s.cred.AccessToken, nil
	}
	if t := s.current(); t.Access != "" && time.Now().Before(s.renewAt()) {
		return t.Access, nil
	}
	t, err := s.renew(ctx)
	return t.Access, err
}

// renew refreshes the session; when the refresh token is spent or unknown
// and a password is known, it logs in again.
func (s *session) renew(ctx context.Context) (Tokens, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t Tokens
	err := errors.New("directus: session: nothing to renew with")
	if s.tokens.Refresh != "" {
		t, err = s.c.Refresh(ctx, s.tokens.Refresh)
	}
	if err != nil && s.cred.Password != "" && (s.tokens.Refresh == "" || errors.Is(err, ErrInvalidCredentials)) {
		t, err = s.c.Login(ctx, s.cred.Email, s.cred.Password)
	}
	if err != nil {
		return Tokens{}, err
	}
	s.ttl = time.Until(t.Expires)
	s.tokens = t
	return t, nil
}

// authenticate sends an auth frame with an access (or static) token.
func (k *Conn) authenticate(ctx context.Context, token string) error {
	_, err := k.request(ctx, "ws auth", outFrame{Type: "auth", AccessToken: token})
	return err
}

// renewLoop renews the session before the access token expires and
// re-authenticates the socket with the new access token, so that Directus
// never drops events as TOKEN_EXPIRED (docs/DIRECTUS-PROTOCOL.md §4). If renewal keeps
// failing until the token expires, the connection ends.
func (k *Conn) renewLoop() {
	defer k.wg.Done()
	retry := time.Second
	for {
		wait := time.Until(k.sess.renewAt())
		select {
		case <-k.done:
			return
		case <-time.After(wait):
		}
		if err := k.reauth(); err != nil {
			if time.Now().After(k.sess.current().Expires) {
				k.shutdown(fmt.Errorf("renew session: %w", err))
				return
			}
			k.log.Warn().Err(err).Msg("directus: session renewal failed; retrying")
			select {
			case <-k.done:
				return
			case <-time.After(retry):
			}
		}
	}
}

func (k *Conn) reauth() error {
	ctx, cancel := context.WithTimeout(context.Background(), k.c.cfg.RequestTimeout)
	defer cancel()
	go func() {
		select {
		case <-k.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	t, err := k.sess.renew(ctx)
	if err != nil {
		return err
	}
	if err := k.authenticate(ctx, t.Access); err != nil {
		return err
	}
	k.log.Debug().Time("expires", t.Expires).Msg("directus: session renewed")
	return nil
}
