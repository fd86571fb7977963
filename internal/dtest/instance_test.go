package dtest

import (
	"net/http"
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

	in.Stop(t)
	if in.Running() {
		t.Fatal("still running after Stop")
	}
}
