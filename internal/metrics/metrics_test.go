package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/directus-ircd/directus-ircd/internal/version"
)

// GET /metrics serves the registry in the text format, with the build's identity and the Go
// and process collectors; what a scraper parses equals what the registry holds.
func TestHandlerServesTheRegistry(t *testing.T) {
	reg := NewRegistry()
	lines := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "test_lines_total", Help: "x"}, []string{"kind"})
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "test_seconds", Help: "x"})
	reg.MustRegister(lines, hist)
	lines.WithLabelValues("in").Add(3)
	hist.Observe(0.25)

	srv := httptest.NewServer(Handler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: %s, Content-Type %q", resp.Status, ct)
	}
	scraped, err := Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	v := version.Get()
	build := `directus_ircd_build_info{commit="` + v.Commit + `",goversion="` + v.GoVersion + `",version="` + v.Version + `"}`
	for key, want := range map[string]float64{
		`test_lines_total{kind="in"}`: 3, "test_seconds_count": 1, "test_seconds_sum": 0.25, build: 1,
	} {
		if scraped[key] != want {
			t.Errorf("%s = %v, want %v", key, scraped[key], want)
		}
	}
	if !scraped.Has("go_goroutines") || !scraped.Has("process_open_fds") {
		t.Error("no Go runtime or process metrics")
	}
	// cmd/ircbench reads the daemon's memory from here.
	if rss := scraped["process_resident_memory_bytes"]; rss < 1<<20 {
		t.Errorf("process_resident_memory_bytes = %v, want the process's RSS", rss)
	}
	gathered, err := Gather(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`test_lines_total{kind="in"}`, "test_seconds_count", build} {
		if gathered[key] != scraped[key] {
			t.Errorf("%s: gathered %v, scraped %v", key, gathered[key], scraped[key])
		}
	}
}
