package dtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/directus-ircd/directus-ircd/internal/provision"
)

// Demo users created by StartProvisioned (provision.DefaultDemoPasswords).
const (
	AliceEmail, AlicePassword = "alice@example.com", "alicepass"
	BobEmail, BobPassword     = "bob@example.com", "bobpass"
	CarolEmail, CarolPassword = "carol@example.com", "carolpass"
)

// StartProvisioned starts an instance and runs provision.Run on it with demo
// users (alice, bob, carol, default passwords, in the chat users' role). The
// result holds the bridge user's static token and id, and the ids of the
// chat users' and the bridge's roles and policies.
func StartProvisioned(t testing.TB, opt Options) (*Instance, provision.Result) {
	t.Helper()
	in := Start(t, opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := provision.Run(ctx, provision.Options{
		URL:           in.URL,
		AdminEmail:    in.AdminEmail,
		AdminPassword: in.AdminPassword,
		DemoUsers:     true,
		Out:           logWriter{t},
	})
	if err != nil {
		t.Fatalf("dtest: provision: %v", err)
	}
	return in, res
}

// logWriter sends provisioning progress to the test log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Logf("setup: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
