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
	ID        string `json:"id"`
	Role      string `json:"role"`
	Status    string `json:"status"`
	FirstName string `json:"first_name"`
}

// ensureUser finds a user by email or creates it from create (which holds
// the password, if any). An existing user is put into the Users role and
// made active if needed; its password is never rewritten.
func (r *run) ensureUser(email string, create map[string]any) (string, error) {
	var u userRow
	found, err := r.find("/users", map[string]any{"email": eq(email)}, "id,role,status,first_name", &u)
	if err != nil {
		return "", err
	}
	if !found {
		body := map[string]any{"email": email, "role": r.res.RoleID, "status": "active"}
		for k, v := range create {
			body[k] = v
		}
		if err := r.do(http.MethodPost, "/users", body, &u); err != nil {
			return "", fmt.Errorf("create user %s: %w", email, err)
		}
		r.changed("created user %s in role %q", email, r.o.RoleName)
		return u.ID, nil
	}
	patch := map[string]any{}
	if u.Role != r.res.RoleID {
		patch["role"] = r.res.RoleID
	}
	if u.Status != "active" {
		patch["status"] = "active"
	}
	if len(patch) == 0 {
		r.ok("user %s", email)
		return u.ID, nil
	}
	if err := r.do(http.MethodPatch, "/users/"+u.ID, patch, nil); err != nil {
		return "", fmt.Errorf("update user %s: %w", email, err)
	}
	r.changed("user %s: set role %q and status active", email, r.o.RoleName)
	return u.ID, nil
}

func (r *run) ensureBridgeUser() error {
	id, err := r.ensureUser(r.o.BridgeEmail, map[string]any{"first_name": "IRC", "last_name": "bridge"})
	if err != nil {
		return err
	}
	r.res.BridgeUserID = id
	return r.ensureBridgeToken()
}

// ensureBridgeToken keeps Options.BridgeToken when it authenticates the
// bridge user (GET /users/me) and sets a new random one otherwise.
func (r *run) ensureBridgeToken() error {
	if tok := r.o.BridgeToken; tok != "" {
		me, err := r.c.Me(r.ctx, tok)
		switch {
		case err == nil && me.ID == r.res.BridgeUserID:
			r.res.BridgeToken = tok
			r.ok("bridge user's static token works")
			return nil
		case err != nil && !errors.Is(err, directus.ErrInvalidCredentials):
			return fmt.Errorf("check the bridge token: %w", err)
		}
	}
	tok, err := newToken()
	if err != nil {
		return err
	}
	if err := r.do(http.MethodPatch, "/users/"+r.res.BridgeUserID, map[string]any{"token": tok}, nil); err != nil {
		return fmt.Errorf("set the bridge user's static token: %w", redact(err, tok))
	}
	r.res.BridgeToken = tok
	if r.o.BridgeToken == "" {
		r.changed("set a new static token for the bridge user")
	} else {
		r.changed("the given bridge token did not authenticate the bridge user: set a new one")
	}
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
		if _, err := r.ensureUser(name+"@example.com", map[string]any{"first_name": first, "password": pass}); err != nil {
			return redact(err, pass)
		}
	}
	return nil
}
