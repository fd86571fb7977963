package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestNormalizeDirectusURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8055":          "http://127.0.0.1:8055",
		"http://127.0.0.1:8055/":         "http://127.0.0.1:8055",
		"https://chat.example/directus/": "https://chat.example/directus",
	} {
		got, err := NormalizeDirectusURL(in)
		if err != nil || got != want {
			t.Errorf("NormalizeDirectusURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:8055", "ws://h", "http://", "http://h/?x=1", "http://u:p@h", "javascript:alert(1)"} {
		if got, err := NormalizeDirectusURL(bad); err == nil {
			t.Errorf("NormalizeDirectusURL(%q) = %q, want an error", bad, got)
		}
	}
}

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func TestHandler(t *testing.T) {
	h, err := NewHandler(Config{DirectusURL: "http://127.0.0.1:8055/", HistoryLimit: 50})
	if err != nil {
		t.Fatal(err)
	}
	for path, ctype := range map[string]string{
		"/":           "text/html",
		"/index.html": "text/html",
		"/app.js":     "text/javascript",
		"/style.css":  "text/css",
		"/config.js":  "text/javascript",
	} {
		res := get(t, h, "GET", path)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), ctype) || len(body) == 0 {
			t.Errorf("GET %s: %d %q, %d bytes", path, res.StatusCode, res.Header.Get("Content-Type"), len(body))
		}
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "connect-src http://127.0.0.1:8055 ws://127.0.0.1:8055") {
			t.Errorf("GET %s: CSP %q does not allow Directus", path, csp)
		}
	}
	body, _ := io.ReadAll(get(t, h, "GET", "/config.js").Body)
	if want := `window.WEBCHAT_CONFIG = {"directusUrl":"http://127.0.0.1:8055","historyLimit":50};`; !strings.Contains(string(body), want) {
		t.Errorf("config.js = %q, want it to contain %q", body, want)
	}
	if res := get(t, h, "GET", "/nope"); res.StatusCode != 404 {
		t.Errorf("GET /nope: %d", res.StatusCode)
	}
	if res := get(t, h, "POST", "/"); res.StatusCode != 405 {
		t.Errorf("POST /: %d", res.StatusCode)
	}
	if res := get(t, h, "HEAD", "/app.js"); res.StatusCode != 200 {
		t.Errorf("HEAD /app.js: %d", res.StatusCode)
	}
}

func TestConfigJSEscapes(t *testing.T) {
	// A hostile URL must not be able to end the script.
	h, err := NewHandler(Config{DirectusURL: "http://h/</script><script>alert(1)"})
	if err != nil {
		return // rejected outright is fine too
	}
	body, _ := io.ReadAll(get(t, h, "GET", "/config.js").Body)
	if strings.Contains(string(body), "</script>") {
		t.Errorf("config.js not escaped: %s", body)
	}
}
