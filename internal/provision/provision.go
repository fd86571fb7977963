// Package provision sets up a Directus 11 or 12 instance for directus-ircd
// (the logic behind `directus-ircd setup`): the messages collection of the
// chat guide plus the two fields the bridge needs; a role and policy for chat
// users; a separate role and policy for the bridge service user, holding only
// what the bridge uses; the bridge user with a static token and, optionally,
// demo users. It is idempotent: a second run with the same BridgeToken
// changes nothing and reports so; it never replaces a working token unless
// asked (RotateToken). It never drops or alters existing data, and never takes
// over a role or policy it did not create unless the caller names it.
package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/directus-ircd/directus-ircd/directus"
)

// Defaults for the zero values of Options.
const (
	DefaultCollection  = "messages"
	DefaultRoleName    = "IRC Users"
	DefaultPolicyName  = "Chat Users"
	DefaultBridgeEmail = "directus-ircd-bridge@example.com"
	// BridgeRoleName names the bridge service user's own role and policy.
	BridgeRoleName = "IRC Bridge"
)

// What chat users may read of directus_users (Options.UserRead).
const (
	// UserReadAll: every user's profile, so that pages such as the guide's
	// show user_created.first_name. Directus 12 without a license allows only
	// all fields, so chat users can read every user's email, status, last
	// access and role (not passwords or tokens).
	UserReadAll = "all"
	// UserReadOwn: no user profiles, not even their own (that needs a
	// license, or app access, which costs one of the 3 seats of an unlicensed
	// Directus 12 per user): /users/me answers only the id, and web pages
	// show authors as ids. IRC still shows names (the bridge reads them).
	UserReadOwn = "own"
)

// DefaultDemoPasswords are the demo users' passwords unless
// Options.DemoPasswords overrides them: alice → alicepass, bob → bobpass,
// carol → carolpass (emails alice@example.com, ...; first names Alice, ...).
var DefaultDemoPasswords = map[string]string{"alice": "alicepass", "bob": "bobpass", "carol": "carolpass"}

// Options says which Directus to set up and how.
type Options struct {
	URL                       string // Directus base URL http(s)://host[:port][/path]
	AdminToken                string // an administrator's token, or:
	AdminEmail, AdminPassword string
	Collection                string // default "messages"
	// RoleName and PolicyName are the chat users' role and policy. Empty:
	// DefaultRoleName / DefaultPolicyName, created by setup; an existing
	// role or policy of that name that setup did not create is an error. A
	// name given here is an explicit choice: an existing one is reused (and
	// given the permissions chat users need).
	RoleName, PolicyName string
	UserRead             string // UserReadAll (default) or UserReadOwn
	// AllowRedact grants chat users delete on the collection, so that IRC REDACT works. The
	// bridge allows only a user's own messages (or any, for Directus admins), but Directus 12
	// without a license cannot: through the REST API any chat user may then delete any message.
	// Off by default; a later run without it does not take the grant away.
	AllowRedact bool
	BridgeEmail string // the bridge service user's lookup key, default DefaultBridgeEmail
	// BridgeToken is kept if it authenticates the bridge user. If it is
	// rejected, a new random token is set. If it is empty and the bridge user
	// already has a token, Run fails (ErrBridgeToken) unless RotateToken.
	BridgeToken   string
	RotateToken   bool // set a new token even if BridgeToken works
	DemoUsers     bool
	DemoPasswords map[string]string // overrides DefaultDemoPasswords per user
	Out           io.Writer         // progress, one line per thing created/checked/changed; nil: discard
	// Client overrides the Directus client (tests, custom TLS). Optional.
	Client *directus.Client
}

// Result is what a run established.
type Result struct {
	BridgeToken  string
	BridgeUserID string
	// NewToken: this run set a new bridge token. ReplacedToken: it replaced
	// one, so a daemon still using that is locked out until it gets this one.
	NewToken, ReplacedToken bool
	RoleID                  string // chat users' role
	PolicyID                string // chat users' policy
	BridgeRoleID            string
	BridgePolicyID          string
	Changed                 []string // what this run changed; empty on a no-op run
}

// run carries one provisioning run's state.
type run struct {
	ctx   context.Context
	o     Options
	c     *directus.Client
	token string // admin access token
	res   Result
}

// Run provisions Directus. Errors are typed (see errors.go) and never carry
// secrets.
func Run(ctx context.Context, o Options) (Result, error) {
	o, err := withDefaults(o)
	if err != nil {
		return Result{}, err
	}
	r := &run{ctx: ctx, o: o, c: o.Client}
	steps := []func() error{r.login, r.checkVersion, r.checkAdmin, r.checkWebSocket, r.ensureCollection,
		r.ensureChatAccess, r.ensureBridgeAccess, r.ensureBridgeUser, r.ensureDemoUsers}
	for _, step := range steps {
		if err := step(); err != nil {
			return Result{}, err
		}
	}
	if len(r.res.Changed) == 0 {
		r.printf("nothing to change: Directus is already set up")
	} else {
		r.printf("%d change(s) made", len(r.res.Changed))
	}
	return r.res, nil
}

func withDefaults(o Options) (Options, error) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.Collection, DefaultCollection)
	def(&o.UserRead, UserReadAll)
	def(&o.BridgeEmail, DefaultBridgeEmail)
	if o.UserRead != UserReadAll && o.UserRead != UserReadOwn {
		return o, fmt.Errorf("setup: user read %q: want %q or %q", o.UserRead, UserReadAll, UserReadOwn)
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.AdminToken == "" && (o.AdminEmail == "" || o.AdminPassword == "") {
		return o, fmt.Errorf("%w: give an admin token, or an admin email and password", ErrAdminAuth)
	}
	if o.Client == nil {
		c, err := directus.New(directus.Config{URL: o.URL})
		if err != nil {
			return o, fmt.Errorf("setup: %w", err)
		}
		o.Client = c
	}
	return o, nil
}

// printf writes one progress line.
func (r *run) printf(format string, args ...any) {
	fmt.Fprintf(r.o.Out, format+"\n", args...)
}

// changed records and prints a change.
func (r *run) changed(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.res.Changed = append(r.res.Changed, msg)
	r.printf("changed: %s", msg)
}

func (r *run) ok(format string, args ...any) {
	r.printf("ok: "+format, args...)
}

// do is an admin REST call.
func (r *run) do(method, path string, body, out any) error {
	return r.c.Do(r.ctx, r.token, method, path, body, out)
}

func (r *run) login() error {
	if r.o.AdminToken != "" {
		r.token = r.o.AdminToken
		_, err := r.c.Me(r.ctx, r.token)
		return r.adminAuthError(err, "the admin token")
	}
	tokens, err := r.c.Login(r.ctx, r.o.AdminEmail, r.o.AdminPassword)
	if err != nil {
		return r.adminAuthError(err, "the admin email or password")
	}
	r.token = tokens.Access
	return nil
}

func (r *run) adminAuthError(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, directus.ErrUnreachable):
		return fmt.Errorf("%w: cannot reach Directus at %s: %w; check the URL and that Directus is running",
			ErrUnreachable, r.c.URL(), err)
	case errors.Is(err, directus.ErrInvalidCredentials):
		return fmt.Errorf("%w: Directus at %s rejected %s; check the admin credentials (an administrator's are needed)",
			ErrAdminAuth, r.c.URL(), what)
	case errors.Is(err, directus.ErrNotFound):
		return fmt.Errorf("%w: %s does not look like Directus (%w); check the URL", ErrUnreachable, r.c.URL(), err)
	}
	return fmt.Errorf("admin login: %w", err)
}

func (r *run) checkVersion() error {
	var info struct {
		Version string `json:"version"`
	}
	if err := r.do(http.MethodGet, "/server/info", nil, &info); err != nil {
		return fmt.Errorf("read server info: %w", err)
	}
	major, _, _ := strings.Cut(info.Version, ".")
	if major != "11" && major != "12" {
		return &VersionError{Found: info.Version}
	}
	r.ok("Directus %s", info.Version)
	return nil
}

// checkAdmin: GET /policies/me/globals (Directus 11+) says whether any of the
// user's policies grants admin access.
func (r *run) checkAdmin() error {
	var g struct {
		AdminAccess bool `json:"admin_access"`
	}
	if err := r.do(http.MethodGet, "/policies/me/globals", nil, &g); err != nil {
		return fmt.Errorf("check admin access: %w", err)
	}
	if !g.AdminAccess {
		return fmt.Errorf("%w: the given account at %s is not an administrator; setup needs admin access", ErrAdminAuth, r.c.URL())
	}
	return nil
}

// checkWebSocket: the daemon subscribes over Directus's WebSocket endpoint,
// which Directus serves only with WEBSOCKETS_ENABLED=true (default false).
func (r *run) checkWebSocket() error {
	err := r.c.CheckWebSocket(r.ctx)
	switch {
	case err == nil:
		r.ok("WebSocket endpoint %s", r.c.WebSocketURL())
		return nil
	case errors.Is(err, directus.ErrNotFound):
		return fmt.Errorf("%w: Directus at %s has no WebSocket endpoint (%s answered 404), and directus-ircd "+
			"receives messages through it: set WEBSOCKETS_ENABLED=true in Directus's environment and restart Directus",
			ErrWebSocketsDisabled, r.c.URL(), r.c.WebSocketURL())
	}
	return fmt.Errorf("open a WebSocket to %s: %w", r.c.WebSocketURL(), err)
}
