package dtest

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// EnvDB selects the database every instance runs on: "sqlite" (default) or
// "postgres" (the checkout's cluster from dev/postgres.sh, or the one
// described by EnvPGConn).
const (
	EnvDB     = "DTEST_DB"
	EnvPGConn = "DTEST_PG_ENV"
)

// Database kinds, as in Instance.DB.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// pgTemplate is the bootstrapped database every PostgreSQL instance clones
// (DIRECTUS_DB=postgres dev/directus.sh template).
const pgTemplate = "directus_template"

// store is where an instance's data lives, created before its first start
// and removed after its last stop; Kill and Restart keep it.
type store interface {
	create(dir string) error
	env() map[string]string // the DB_* settings of the instance's .env
	remove() error
}

func dbKind() (string, error) {
	switch v := os.Getenv(EnvDB); v {
	case "", SQLite:
		return SQLite, nil
	case Postgres:
		return Postgres, nil
	default:
		return "", fmt.Errorf("%s=%q: want %q or %q", EnvDB, v, SQLite, Postgres)
	}
}

// sqliteStore is a copy of the template database file in the instance's directory.
type sqliteStore struct{ template, file string }

func (s *sqliteStore) create(dir string) error {
	s.file = filepath.Join(dir, "data.db")
	if err := copyFile(s.template, s.file); err != nil {
		return fmt.Errorf("copy template: %w", err)
	}
	return nil
}

func (s *sqliteStore) env() map[string]string {
	return map[string]string{"DB_CLIENT": "sqlite3", "DB_FILENAME": s.file}
}

func (s *sqliteStore) remove() error { return nil } // in the test's temporary directory

// pgCluster is a PostgreSQL server holding the template database.
type pgCluster struct {
	conn map[string]string // DB_CLIENT, DB_HOST, DB_PORT, DB_USER, DB_PASSWORD
	psql string
}

// pgStore is the instance's own database, cloned from the template.
type pgStore struct {
	cluster pgCluster
	name    string
}

func (s *pgStore) create(string) error {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	s.name = "dtest_" + hex.EncodeToString(b)
	// Cloning copies files: about 0.1 s instead of a 5–10 s bootstrap.
	return s.cluster.exec("CREATE DATABASE " + s.name + " TEMPLATE " + pgTemplate)
}

func (s *pgStore) env() map[string]string {
	env := map[string]string{"DB_DATABASE": s.name}
	for k, v := range s.cluster.conn {
		env[k] = v
	}
	return env
}

func (s *pgStore) remove() error {
	// FORCE: a killed Directus's connections may not be gone yet on the server side.
	return s.cluster.exec("DROP DATABASE IF EXISTS " + s.name + " WITH (FORCE)")
}

// locatePG reads the connection settings dev/postgres.sh wrote (or EnvPGConn)
// and checks that the server answers and holds the template.
func locatePG(root string, rootErr error) (pgCluster, error) {
	path := os.Getenv(EnvPGConn)
	if path == "" {
		if rootErr != nil {
			return pgCluster{}, rootErr
		}
		path = filepath.Join(root, ".directus", "pg", "directus.env")
	}
	conn, err := readEnvFile(path)
	if err != nil {
		return pgCluster{}, err
	}
	for _, k := range []string{"DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD"} {
		if conn[k] == "" {
			return pgCluster{}, fmt.Errorf("%s: no %s", path, k)
		}
	}
	c := pgCluster{conn: conn, psql: "/usr/lib/postgresql/15/bin/psql"}
	if _, err := os.Stat(c.psql); err != nil {
		if c.psql, err = exec.LookPath("psql"); err != nil {
			return c, errors.New("psql not found (Debian package postgresql-15)")
		}
	}
	out, err := c.query("SELECT count(*) FROM pg_database WHERE datname = '" + pgTemplate + "'")
	if err != nil {
		return c, err
	}
	if out != "1" {
		return c, errors.New("no database " + pgTemplate + " on " + conn["DB_HOST"] + ":" + conn["DB_PORT"])
	}
	return c, nil
}

func (c pgCluster) exec(sql string) error {
	_, err := c.query(sql)
	return err
}

// query runs one statement with psql on database postgres and returns its unaligned output.
func (c pgCluster) query(sql string) (string, error) {
	cmd := exec.Command(c.psql, "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-h", c.conn["DB_HOST"],
		"-p", c.conn["DB_PORT"], "-U", c.conn["DB_USER"], "-d", "postgres", "-c", sql)
	// The password goes through the environment, never the command line (ps) or an error.
	cmd.Env = append(os.Environ(), "PGPASSWORD="+c.conn["DB_PASSWORD"], "PGCONNECT_TIMEOUT=5",
		"PGOPTIONS=-c client_min_messages=warning")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql %q: %w: %s", sql, err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// readEnvFile parses KEY=VALUE lines.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = v
		}
	}
	return env, sc.Err()
}
