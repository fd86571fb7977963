package provision

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/directus-ircd/directus-ircd/directus"
)

type userRow struct {
	ID        string  `json:"id"`
	Role      string  `json:"role"`
	Status    string  `json:"status"`
	FirstName string  `json:"first_name"`
	Token     *string `json:"token"` // "**********" when set (Directus never returns it), null when not
}

// ensureUser finds a user by email or creates it from create (which holds
// the password, if any), in the role roleID (named role). An existing user is
// moved into that role and made active if needed; its password is never
// rewritten.
func (r *run) ensureUser(email, roleID, role string, create map[string]any) (userRow, error) {
	var u userRow
	found, err := r.find("/users", map[string]any{"email": eq(email)}, "id,role,status,first_name,token", &u)
	if err != nil {
		return u, err
	}
	if !found {
		body := map[string]any{"email": email, "role": roleID, "status": "active"}
		for k, v := range create {
			body[k] = v
		}
		if err := r.do(http.MethodPost, "/users", body, &u); err != nil {
			return u, fmt.Errorf("create user %s: %w", email, err)
		}
		r.changed("created user %s in role %q", email, role)
		return u, nil
	}
	patch := map[string]any{}
	var what []string
	if u.Role != roleID {
		patch["role"] = roleID
		what = append(what, fmt.Sprintf("moved to role %q", role))
	}
	if u.Status != "active" {
		patch["status"] = "active"
		what = append(what, "status active")
	}
	if len(patch) == 0 {
		r.ok("user %s", email)
		return u, nil
	}
	if err := r.do(http.MethodPatch, "/users/"+u.ID, patch, nil); err != nil {
		return u, fmt.Errorf("update user %s: %w", email, err)
	}
	r.changed("user %s: %s", email, strings.Join(what, ", "))
	return u, nil
}

func (r *run) ensureBridgeUser() error {
	u, err := r.ensureUser(r.o.BridgeEmail, r.res.BridgeRoleID, BridgeRoleName, map[string]any{"first_name": "IRC", "last_name": "bridge"})
	if err != nil {
		return err
	}
	r.res.BridgeUserID = u.ID
	return r.ensureBridgeToken(u.Token != nil && *u.Token != "")
}

// ensureBridgeToken keeps Options.BridgeToken when it authenticates the
// bridge user (GET /users/me). It sets a new random token when asked to
// rotate, when the given token is rejected, or when the bridge user has none
// yet. It refuses to replace a token it was not given (hasToken): that token
// may be what a running daemon uses.
func (r *run) ensureBridgeToken(hasToken bool) error {
	if r.o.RotateToken && hasToken {
		return r.setBridgeToken(true, "replaced the bridge user's static token (rotate)")
	}
	tok := r.o.BridgeToken
	if tok == "" && hasToken {
		return fmt.Errorf("%w: the bridge user %s already has a static token, and Directus never shows it again: "+
			"give it to setup (-token, DIRECTUS_IRCD_DIRECTUS_TOKEN, or -config FILE holding directus.token) so that it is kept, "+
			"or pass -rotate-token to replace it (daemons using the old one then need the new one)", ErrBridgeToken, r.o.BridgeEmail)
	}
	if tok == "" || !hasToken {
		return r.setBridgeToken(false, "set a static token for the bridge user")
	}
	me, err := r.c.Me(r.ctx, tok)
	switch {
	case err == nil && me.ID == r.res.BridgeUserID:
		r.res.BridgeToken = tok
		r.ok("the given bridge token authenticates the bridge user: kept")
		return nil
	case err == nil:
		return fmt.Errorf("%w: the given bridge token belongs to another Directus user (id %s), not the bridge user %s: "+
			"give the bridge's token, or pass -rotate-token to set a new one", ErrBridgeToken, me.ID, r.o.BridgeEmail)
	case !errors.Is(err, directus.ErrInvalidCredentials):
		return fmt.Errorf("check the bridge token: %w", err)
	}
	return r.setBridgeToken(hasToken, "the given bridge token was rejected by Directus: set a new one")
}

func (r *run) setBridgeToken(replaces bool, what string) error {
	tok, err := newToken()
	if err != nil {
		return err
	}
	if err := r.do(http.MethodPatch, "/users/"+r.res.BridgeUserID, map[string]any{"token": tok}, nil); err != nil {
		return fmt.Errorf("set the bridge user's static token: %w", redact(err, tok))
	}
	r.res.BridgeToken, r.res.NewToken, r.res.ReplacedToken = tok, true, replaces
	r.changed("%s", what)
	return nil
}

// newToken returns 32 random bytes, URL-safe base64 (43 characters).
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (r *run) ensureDemoUsers() error {
	if !r.o.DemoUsers {
		return nil
	}
	for _, name := range []string{"alice", "bob", "carol"} {
		pass := DefaultDemoPasswords[name]
		if p := r.o.DemoPasswords[name]; p != "" {
			pass = p
		}
		first := strings.ToUpper(name[:1]) + name[1:]
		if _, err := r.ensureUser(name+"@example.com", r.res.RoleID, r.chatRole(), map[string]any{"first_name": first, "password": pass}); err != nil {
			return redact(err, pass)
		}
	}
	return nil
}

func (r *run) chatRole() string {
	if r.o.RoleName != "" {
		return r.o.RoleName
	}
	return DefaultRoleName
}
