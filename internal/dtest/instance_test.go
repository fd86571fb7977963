package dtest

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStartPauseKillRestart(t *testing.T) {
	in := Start(t, Options{Env: map[string]string{"ACCESS_TOKEN_TTL": "1m"}})
	client := &http.Client{Timeout: 2 * time.Second}
	if !pingOK(client, in.URL) {
		t.Fatal("no pong after Start")
	}
	token := in.AdminToken(t)
	if token == "" || in.AdminToken(t) != token {
		t.Fatal("admin token empty or not cached")
	}

	in.Pause(t)
	if pingOK(&http.Client{Timeout: 300 * time.Millisecond}, in.URL) {
		t.Fatal("a paused Directus answered")
	}
	in.Resume(t)
	if !pingOK(client, in.URL) {
		t.Fatal("no pong after Resume")
	}

	// Data written before a kill is there after the restart (on PostgreSQL the server outlives Directus).
	adminDo(t, in, http.MethodPatch, "/users/me", `{"first_name":"Survivor"}`)

	in.Kill(t)
	if in.Running() || pingOK(client, in.URL) {
		t.Fatal("Directus still answers after Kill")
	}

	in.Restart(t)
	if !pingOK(client, in.URL) {
		t.Fatal("no pong after Restart")
	}
	// Same data and secret: the admin token issued before the kill still works.
	req, _ := http.NewRequest(http.MethodGet, in.URL+"/users/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /users/me after restart: HTTP %d", resp.StatusCode)
	}
	if got := adminDo(t, in, http.MethodGet, "/users/me?fields=first_name", ""); !strings.Contains(got, `"Survivor"`) {
		t.Fatalf("first_name lost across Kill and Restart: %s", got)
	}

	in.Stop(t)
	if in.Running() {
		t.Fatal("still running after Stop")
	}
}

// TestDatabaseRemovedAtCleanup: each instance has its own database, gone when its test ends.
func TestDatabaseRemovedAtCleanup(t *testing.T) {
	var exists func() bool
	t.Run("instance", func(t *testing.T) {
		in := Start(t, Options{})
		switch st := in.store.(type) {
		case *pgStore:
			exists = func() bool {
				n, err := st.cluster.query("SELECT count(*) FROM pg_database WHERE datname = '" + st.name + "'")
				if err != nil {
					t.Fatal(err)
				}
				return n == "1"
			}
		case *sqliteStore:
			exists = func() bool { _, err := os.Stat(filepath.Join(in.Dir, "data.db")); return err == nil }
		}
		if !exists() {
			t.Fatalf("the %s database of a running instance does not exist", in.DB)
		}
	})
	if exists == nil {
		return // the subtest skipped: no Directus
	}
	if exists() {
		t.Fatal("the database is still there after the test ended")
	}
}

// adminDo sends a request as the admin and returns the body of a 2xx answer.
func adminDo(t *testing.T, in *Instance, method, path, body string) string {
	t.Helper()
	req, err := http.NewRequest(method, in.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+in.AdminToken(t))
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: HTTP %d %s", method, path, resp.StatusCode, b)
	}
	return string(b)
}
