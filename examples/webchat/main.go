// Command webchat serves the Directus chat guide's web page, fixed for Directus 12, and a
// config.js that tells the page where Directus is.
//
//	go run ./examples/webchat -listen 127.0.0.1:8080 -directus http://127.0.0.1:8055
//
// The page talks to Directus directly (REST for login and refresh, the WebSocket API for the
// chat); this server only hands out static files. Directus must accept the page's origin: CORS
// for the REST calls and the WebSocket origin check (CORS_ENABLED=true with CORS_ORIGIN=true or
// a list that contains the page's origin).
package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

//go:embed index.html app.js style.css
var pageFiles embed.FS

// Config is what the page learns from config.js.
type Config struct {
	// DirectusURL is the Directus base URL, http(s)://host[:port][/path], without a trailing slash.
	DirectusURL string `json:"directusUrl"`
	// HistoryLimit is how many of the newest messages the page shows on connect (0: the page's default, 100).
	HistoryLimit int `json:"historyLimit,omitempty"`
}

// NormalizeDirectusURL checks that raw is an absolute http(s) URL without query or fragment and
// returns it without a trailing slash.
func NormalizeDirectusURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("directus URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("directus URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("directus URL %q: no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("directus URL %q: must not have user info, a query or a fragment", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// directusOrigins returns the origins the page connects to: Directus over http(s) and ws(s).
func directusOrigins(directusURL string) (httpOrigin, wsOrigin string) {
	u, _ := url.Parse(directusURL)
	httpOrigin = u.Scheme + "://" + u.Host
	if u.Scheme == "https" {
		return httpOrigin, "wss://" + u.Host
	}
	return httpOrigin, "ws://" + u.Host
}

// NewHandler serves the page: / (index.html), app.js, style.css and the generated config.js.
func NewHandler(cfg Config) (http.Handler, error) {
	norm, err := NormalizeDirectusURL(cfg.DirectusURL)
	if err != nil {
		return nil, err
	}
	cfg.DirectusURL = norm
	js, err := json.Marshal(cfg) // escapes <, > and & too, so it cannot end the script
	if err != nil {
		return nil, err
	}
	configJS := []byte("// Written by the webchat server.\nwindow.WEBCHAT_CONFIG = " + string(js) + ";\n")

	httpOrigin, wsOrigin := directusOrigins(norm)
	csp := strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self'",
		"connect-src " + httpOrigin + " " + wsOrigin,
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")

	static := map[string]struct {
		body        []byte
		contentType string
	}{
		"/config.js": {configJS, "text/javascript; charset=utf-8"},
	}
	for name, ctype := range map[string]string{
		"index.html": "text/html; charset=utf-8",
		"app.js":     "text/javascript; charset=utf-8",
		"style.css":  "text/css; charset=utf-8",
	} {
		b, err := fs.ReadFile(pageFiles, name)
		if err != nil {
			return nil, err
		}
		static["/"+name] = struct {
			body        []byte
			contentType string
		}{b, ctype}
	}
	static["/"] = static["/index.html"]

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.URL.Path == "/favicon.ico" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		f, ok := static[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Security-Policy", csp)
		h.Set("Content-Length", fmt.Sprint(len(f.body)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(f.body)
		}
	}), nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve the page on (host:port)")
	directusURL := flag.String("directus", "http://127.0.0.1:8055", "Directus base URL the page connects to")
	history := flag.Int("history", 100, "number of newest messages the page shows on connect")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("webchat: ")
	if *history < 1 || *history > 1000 {
		log.Fatalf("-history %d: must be between 1 and 1000", *history)
	}

	h, err := NewHandler(Config{DirectusURL: *directusURL, HistoryLimit: *history})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("serving the chat page on http://%s/ (Directus: %s)", ln.Addr(), *directusURL)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutCtx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
