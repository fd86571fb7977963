package dtest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/directus-ircd/directus-ircd/internal/testdeps"
)

// Environment variables that override where the install and template are.
const (
	EnvInstall  = "DIRECTUS_IRCD_INSTALL"
	EnvTemplate = "DIRECTUS_IRCD_TEMPLATE_DB"
)

// Default admin of the template database (dev/directus.sh).
const (
	AdminEmail    = "admin@example.com"
	AdminPassword = "adminpass"
)

// paths of the Directus install and the database every instance uses.
type paths struct {
	install  string // the npm prefix holding node_modules
	db       string // SQLite or Postgres
	template string // bootstrapped SQLite database (SQLite)
	pg       pgCluster
}

func (p paths) newStore() store {
	if p.db == Postgres {
		return &pgStore{cluster: p.pg}
	}
	return &sqliteStore{template: p.template}
}

func (p paths) node() string { return filepath.Join(p.install, "node_modules", "node", "bin", "node") }
func (p paths) runJS() string {
	return filepath.Join(p.install, "node_modules", "@directus", "api", "dist", "cli", "run.js")
}

// locate finds the install and template, or skips (fails under CI=true).
func locate(t testing.TB) paths {
	t.Helper()
	kind, err := dbKind()
	if err != nil {
		t.Fatalf("dtest: %v", err)
	}
	p, err := findPaths(kind)
	if err == nil {
		return p
	}
	msg := "dtest: Directus is not installed (" + err.Error() + "); run `make test` which installs Directus " +
		"(or `bash dev/directus.sh template`)"
	if kind == Postgres {
		msg = "dtest: " + EnvDB + "=postgres but PostgreSQL is not ready (" + err.Error() + "); run " +
			"`make test-postgres`, or `dev/postgres.sh run go test ./pkg` which starts it and stops it after"
	}
	testdeps.Require(t, false, msg)
	return paths{}
}

func findPaths(kind string) (paths, error) {
	root, rootErr := repoRoot()
	pick := func(env, rel string) (string, error) {
		if v := os.Getenv(env); v != "" {
			return v, nil
		}
		if rootErr != nil {
			return "", rootErr
		}
		return filepath.Join(root, rel), nil
	}
	p := paths{db: kind}
	var err error
	if p.install, err = pick(EnvInstall, filepath.Join(".directus", "install")); err != nil {
		return p, err
	}
	need := []string{p.node(), p.runJS()}
	if kind == Postgres {
		// Directus lists the driver as optional: make sure npm installed it.
		need = append(need, filepath.Join(p.install, "node_modules", "pg", "package.json"))
	} else {
		if p.template, err = pick(EnvTemplate, filepath.Join(".directus", "template.db")); err != nil {
			return p, err
		}
		need = append(need, p.template)
	}
	for _, f := range need {
		if _, err := os.Stat(f); err != nil {
			return p, errors.New("missing " + f)
		}
	}
	if kind == Postgres {
		p.pg, err = locatePG(root, rootErr)
	}
	return p, err
}

// repoRoot walks up from the working directory to the directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
