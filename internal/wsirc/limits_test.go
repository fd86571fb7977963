package wsirc_test

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/directus-ircd/directus-ircd/internal/irctest"
	"github.com/directus-ircd/directus-ircd/internal/wsirc"
	"github.com/directus-ircd/directus-ircd/ircd"
)

// openBackend lets everyone register; no channel traffic is needed here.
type openBackend struct{}

func (openBackend) AuthenticatePlain(context.Context, ircd.AuthRequest) (*ircd.Identity, error) {
	return &ircd.Identity{}, nil
}
func (openBackend) Register(context.Context, ircd.Registration) (*ircd.Identity, error) {
	return &ircd.Identity{}, nil
}
func (openBackend) Join(context.Context, *ircd.Client) error { return nil }
func (openBackend) Post(context.Context, *ircd.Client, ircd.Outgoing) (ircd.Posted, error) {
	return ircd.Posted{Result: ircd.Queued}, nil
}
func (openBackend) Disconnected(*ircd.Client) {}

// serve runs an IRC server on a TCP and a WebSocket listener (whose peers, on loopback, are
// trusted proxies) and returns both addresses.
func serve(t *testing.T, cfg ircd.Config) (tcpAddr, wsURL string) {
	t.Helper()
	srv := ircd.NewServer(cfg, openBackend{}, zerolog.Nop())
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := wsirc.Listen("127.0.0.1:0", wsirc.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	for _, ln := range []net.Listener{tcp, ws} {
		go func() {
			_ = srv.Serve(ctx, ln)
			done <- struct{}{}
		}()
	}
	t.Cleanup(func() {
		cancel()
		shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		_ = srv.Shutdown(shutdownCtx)
		<-done
		<-done
	})
	return tcp.Addr().String(), "ws://" + ws.Addr().String() + "/"
}

// dialWS connects an IRC test client over WebSocket, as forwarded for the address from.
func dialWS(t *testing.T, url, from string) *irctest.Client {
	t.Helper()
	c, _ := dialWSConn(t, url, from)
	return c
}

// dialWSConn is dialWS that also returns the connection, to write to it directly.
func dialWSConn(t *testing.T, url, from string) (*irctest.Client, net.Conn) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{wsirc.TextProtocol}, HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial(url, http.Header{"X-Forwarded-For": {from}})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	conn := wsirc.NewConn(ws, nil, 0)
	return irctest.New(t, conn), conn
}

// WebSocket clients count towards the same limits as TCP clients: max_clients across both
// listeners, max_clients_per_ip by the forwarded address, flood control and the
// registration timeout.
func TestWebSocketClientsShareTheServerLimits(t *testing.T) {
	t.Run("connections", func(t *testing.T) {
		tcpAddr, url := serve(t, ircd.Config{MaxClients: 3, MaxClientsPerIP: 1})
		a := dialWS(t, url, "198.51.100.7")
		a.RegisterPass("a", "")
		sameAddr := dialWS(t, url, "198.51.100.7")
		if reason := sameAddr.Closed(); !strings.Contains(reason, "from your address") {
			t.Fatalf("second client from 198.51.100.7: ERROR %q", reason)
		}
		dialWS(t, url, "198.51.100.8").RegisterPass("b", "")
		irctest.Dial(t, tcpAddr).RegisterPass("c", "")
		if reason := dialWS(t, url, "198.51.100.9").Closed(); !strings.Contains(reason, "Too many connections") {
			t.Fatalf("fourth client: ERROR %q", reason)
		}
	})
	t.Run("flood", func(t *testing.T) {
		_, url := serve(t, ircd.Config{FloodRate: 1, FloodBurst: 2, FloodMaxLag: 50 * time.Millisecond})
		c, conn := dialWSConn(t, url, "198.51.100.7")
		// Written directly: the server may close before the last lines, which is the point.
		_, _ = conn.Write([]byte(strings.Repeat("PING :x\r\n", 10)))
		if reason := c.Closed(); reason != "Excess Flood" {
			t.Fatalf("ERROR %q, want Excess Flood", reason)
		}
	})
	t.Run("registration timeout", func(t *testing.T) {
		_, url := serve(t, ircd.Config{RegistrationTimeout: 100 * time.Millisecond})
		if reason := dialWS(t, url, "198.51.100.7").Closed(); reason != "Registration timeout" {
			t.Fatalf("ERROR %q, want Registration timeout", reason)
		}
	})
}
