package directus_test

import (
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/internal/dtest"
)

// testTLSPrefix puts Directus behind a TLS reverse proxy under /directus and
// uses it through CAFile: REST over https, WebSocket over wss, base path kept.
func testTLSPrefix(t *testing.T, in *dtest.Instance) {
	target, _ := url.Parse(in.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewTLSServer(http.StripPrefix("/directus", proxy))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := directus.New(directus.Config{URL: srv.URL + "/directus/", CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.WebSocketURL(), "wss://") || !strings.HasSuffix(c.WebSocketURL(), "/directus/websocket") {
		t.Fatalf("websocket URL %s", c.WebSocketURL())
	}
	ctx := testContext(t, time.Minute)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	k, err := c.Dial(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if _, err := k.Read(ctx, "messages", directus.Query{Limit: new(1)}); err != nil {
		t.Fatal(err)
	}

	// Without the CA the certificate is refused.
	plain, _ := directus.New(directus.Config{URL: srv.URL + "/directus"})
	if err := plain.Ping(ctx); !errors.Is(err, directus.ErrUnreachable) {
		t.Errorf("ping without CA: %v", err)
	}
	// A wrong base path: no WebSocket endpoint there.
	wrong, _ := directus.New(directus.Config{URL: srv.URL + "/elsewhere", CAFile: caFile})
	_, err = wrong.Dial(ctx, directus.Credentials{StaticToken: "x"})
	expect(t, "dial under a wrong path", err, directus.ErrNotFound, "WEBSOCKETS_ENABLED")
}
