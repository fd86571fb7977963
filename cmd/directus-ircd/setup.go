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
// DIRECTUS_ADMIN_PASSWORD. With -config FILE the bridge token is read from and written to
// that file, so a second run keeps the token and changes nothing.
func setup(args, environ []string, stdout, stderr io.Writer) int {
	env := envMap(environ)
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", envOr(env, "DIRECTUS_URL", "http://127.0.0.1:8055"), "Directus base URL (env DIRECTUS_URL)")
	adminToken := fs.String("admin-token", env["DIRECTUS_ADMIN_TOKEN"], "administrator token (env DIRECTUS_ADMIN_TOKEN)")
	adminEmail := fs.String("admin-email", env["DIRECTUS_ADMIN_EMAIL"], "administrator email (env DIRECTUS_ADMIN_EMAIL)")
	adminPassword := fs.String("admin-password", env["DIRECTUS_ADMIN_PASSWORD"], "administrator password (env DIRECTUS_ADMIN_PASSWORD)")
	configPath := fs.String("config", "", "daemon config file: its directus.token is kept if valid, and the token is written there (created if missing)")
	collection := fs.String("collection", "messages", "collection for the channel")
	demo := fs.Bool("demo-users", false, "create demo users alice, bob and carol @example.com")
	alicePw := fs.String("alice-password", provision.DefaultDemoPasswords["alice"], "demo password for alice@example.com")
	bobPw := fs.String("bob-password", provision.DefaultDemoPasswords["bob"], "demo password for bob@example.com")
	carolPw := fs.String("carol-password", provision.DefaultDemoPasswords["carol"], "demo password for carol@example.com")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *adminToken == "" && (*adminEmail == "" || *adminPassword == "") {
		fmt.Fprintln(stderr, "directus-ircd setup: give an admin token (-admin-token or DIRECTUS_ADMIN_TOKEN) or admin email and password")
		return 2
	}
	opts := provision.Options{
		URL: *url, AdminToken: *adminToken, AdminEmail: *adminEmail, AdminPassword: *adminPassword,
		Collection: *collection, DemoUsers: *demo, Out: stdout,
		DemoPasswords: map[string]string{"alice": *alicePw, "bob": *bobPw, "carol": *carolPw},
	}
	if *configPath != "" {
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
	} else {
		fmt.Fprintf(stdout, "bridge token (put it in directus.token or DIRECTUS_IRCD_DIRECTUS_TOKEN): %s\n", res.BridgeToken)
	}
	if len(res.Changed) == 0 {
		fmt.Fprintln(stdout, "nothing to change: Directus was already set up")
	} else {
		fmt.Fprintf(stdout, "done: %d changes (%s)\n", len(res.Changed), strings.Join(res.Changed, "; "))
	}
	return 0
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
