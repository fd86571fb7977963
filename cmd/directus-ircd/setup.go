package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/directus-ircd/directus-ircd/internal/config"
	"github.com/directus-ircd/directus-ircd/internal/provision"
)

// setup provisions a Directus for the bridge. Admin credentials come from flags or, better
// (they stay out of the process list), from DIRECTUS_ADMIN_TOKEN or DIRECTUS_ADMIN_EMAIL and
// DIRECTUS_ADMIN_PASSWORD. The bridge token in use comes from -token or
// DIRECTUS_IRCD_DIRECTUS_TOKEN, or from the -config FILE, which it is then written to; a
// working token is kept, so a second run changes nothing.
func setup(args, environ []string, stdout, stderr io.Writer) int {
	env := envMap(environ)
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", envOr(env, "DIRECTUS_URL", "http://127.0.0.1:8055"), "Directus base URL (env DIRECTUS_URL)")
	adminToken := secretFlag(fs, env, "admin-token", "DIRECTUS_ADMIN_TOKEN", "administrator token")
	adminEmail := fs.String("admin-email", env["DIRECTUS_ADMIN_EMAIL"], "administrator email (env DIRECTUS_ADMIN_EMAIL)")
	adminPassword := secretFlag(fs, env, "admin-password", "DIRECTUS_ADMIN_PASSWORD", "administrator password")
	configPath := fs.String("config", "", "daemon config file: its directus.token is kept if valid, and the token is written there (created if missing)")
	token := secretFlag(fs, env, "token", "DIRECTUS_IRCD_DIRECTUS_TOKEN", "the bridge token in use, kept if it works")
	rotate := fs.Bool("rotate-token", false, "set a new bridge token even if the current one works (running daemons then need the new one)")
	role := fs.String("role", "", "chat users' role; an existing role is reused only when named here (default: \""+provision.DefaultRoleName+"\", created by setup)")
	policy := fs.String("policy", "", "chat users' policy; an existing policy is reused only when named here (default: \""+provision.DefaultPolicyName+"\", created by setup)")
	userRead := fs.String("user-read", provision.UserReadAll, "what chat users may read of directus_users: all (every profile, so pages show authors' names) or own")
	allowRedact := fs.Bool("allow-redact", false, "let chat users delete messages (IRC REDACT: their own only; but through the REST API anyone's, Directus 12 without a license cannot tell)")
	collection := fs.String("collection", "messages", "collection for the channel")
	demo := fs.Bool("demo-users", false, "create demo users alice, bob and carol @example.com")
	alicePw := fs.String("alice-password", provision.DefaultDemoPasswords["alice"], "demo password for alice@example.com")
	bobPw := fs.String("bob-password", provision.DefaultDemoPasswords["bob"], "demo password for bob@example.com")
	carolPw := fs.String("carol-password", provision.DefaultDemoPasswords["carol"], "demo password for carol@example.com")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	for _, f := range []*envFlag{adminToken, adminPassword, token} {
		f.fallback()
	}
	if adminToken.value == "" && (*adminEmail == "" || adminPassword.value == "") {
		fmt.Fprintln(stderr, "directus-ircd setup: give an admin token (-admin-token or DIRECTUS_ADMIN_TOKEN) or admin email and password")
		return 2
	}
	opts := provision.Options{
		URL: *url, AdminToken: adminToken.value, AdminEmail: *adminEmail, AdminPassword: adminPassword.value,
		Collection: *collection, DemoUsers: *demo, Out: stdout,
		RoleName: *role, PolicyName: *policy, UserRead: *userRead, BridgeToken: token.value, RotateToken: *rotate,
		AllowRedact:   *allowRedact,
		DemoPasswords: map[string]string{"alice": *alicePw, "bob": *bobPw, "carol": *carolPw},
	}
	if *configPath != "" && opts.BridgeToken == "" {
		if c, err := config.Load(existing(*configPath), nil); err == nil {
			opts.BridgeToken = c.Directus.Token
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	res, err := provision.Run(ctx, opts)
	if err != nil {
		fmt.Fprintln(stderr, "directus-ircd setup:", err)
		return 1
	}
	if *configPath != "" {
		if err := provision.WriteConfigToken(*configPath, *url, res.BridgeToken); err != nil {
			fmt.Fprintln(stderr, "directus-ircd setup:", err)
			return 1
		}
		fmt.Fprintf(stdout, "bridge token written to %s (directus.token)\n", *configPath)
	} else if res.NewToken {
		fmt.Fprintf(stdout, "new bridge token (put it in DIRECTUS_IRCD_DIRECTUS_TOKEN or directus.token): %s\n", res.BridgeToken)
	} else {
		fmt.Fprintln(stdout, "bridge token: the given one works and was kept")
	}
	if res.ReplacedToken {
		fmt.Fprintln(stdout, "NOTE: the bridge has a new token; the old one no longer works. A running directus-ircd that uses "+
			"the old token cannot reconnect to Directus: give it the new token (under systemd, DIRECTUS_IRCD_DIRECTUS_TOKEN "+
			"in /etc/directus-ircd/env; otherwise directus.token in its config) and restart it.")
	}
	return 0
}

// envFlag is a secret flag that falls back to an environment variable. The
// variable is not the flag's default, so -h never prints the secret.
type envFlag struct {
	value, env string
}

func secretFlag(fs *flag.FlagSet, env map[string]string, name, variable, usage string) *envFlag {
	f := &envFlag{env: env[variable]}
	fs.StringVar(&f.value, name, "", usage+" (env "+variable+")")
	return f
}

func (f *envFlag) fallback() {
	if f.value == "" {
		f.value = f.env
	}
}

// existing is path if the file exists, else "" (no file: defaults).
func existing(path string) string {
	if _, err := os.Stat(path); err != nil {
		return ""
	}
	return path
}

func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func envOr(env map[string]string, key, def string) string {
	if v := env[key]; v != "" {
		return v
	}
	return def
}
