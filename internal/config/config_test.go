package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/directus-ircd/directus-ircd/internal/testcert"
)

func TestExampleIsDefaultAndDocumentsEveryKey(t *testing.T) {
	path := filepath.Join("..", "..", "config.example.yaml")
	got, err := Load(path, nil)
	if err != nil {
		t.Fatalf("load example: %v", err)
	}
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("config.example.yaml differs from Default():\n got %+v\nwant %+v", got, want)
	}
	text, _ := os.ReadFile(path)
	d := Default()
	for _, l := range leaves(&d) {
		last := l.key[strings.LastIndex(l.key, ".")+1:]
		if !strings.Contains(string(text), "\n  "+last+":") {
			t.Errorf("config.example.yaml does not document %s", l.key)
		}
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        []string
		want       string
	}{
		{"unknown key", "server:\n  nmae: x\n", nil, "field nmae not found"},
		{"unknown section", "servers: {}\n", nil, "field servers not found"},
		{"bad url", "directus:\n  url: ftp://x\n", nil, "directus.url"},
		{"bad duration", "server:\n  ping_interval: soon\n", nil, "ping_interval"},
		{"bad channel", "channel:\n  name: chat\n", nil, "channel.name"},
		{"zero duration", "queue:\n  max_wait: 0s\n", nil, "queue.max_wait"},
		{"bad level", "log:\n  level: loud\n", nil, "log.level"},
		{"unknown env", "", []string{"DIRECTUS_IRCD_DIRECTUS_TOKN=x"}, "DIRECTUS_IRCD_DIRECTUS_TOKN is not a configuration key"},
		{"bad env int", "", []string{"DIRECTUS_IRCD_CHANNEL_HISTORY=lots"}, "channel.history"},
		{"max lines too small", "channel:\n  max_lines: 1\n", nil, "channel.max_lines"},
		{"bad guest suffix", "login:\n  guest_suffix: 'a b'\n", nil, "login.guest_suffix"},
		{"bad url hides its password", "directus:\n  url: 'ftp://u:hunter2@x'\n", nil, `"ftp://********@x"`},
		{"bad env listen", "", []string{"DIRECTUS_IRCD_SERVER_LISTEN=6667"}, "server.listen"},
		{"no listener", "server:\n  listen: []\n", nil, "server.listen"},
		{"bad tls listen", "server:\n  tls_listen: [6697]\n", nil, "server.tls_listen"},
		{"tls without cert", "server:\n  tls_listen: [127.0.0.1:6697]\n", nil, "server.tls_cert"},
		{"tls without key", "server:\n  tls_listen: [127.0.0.1:6697]\n  tls_cert: /x.crt\n", nil, "server.tls_key"},
		{"bad websocket listen", "server:\n  websocket_listen: [8097]\n", nil, "server.websocket_listen"},
		{"bad websocket tls listen", "server:\n  websocket_tls_listen: [x]\n", nil, "server.websocket_tls_listen"},
		{"wss without cert", "server:\n  websocket_tls_listen: [127.0.0.1:8098]\n", nil, "server.tls_cert"},
		{"origin with path", "server:\n  websocket_origins: [https://chat.example.com/irc]\n", nil, "server.websocket_origins"},
		{"origin without scheme", "server:\n  websocket_origins: [chat.example.com]\n", nil, "server.websocket_origins"},
		{"bad trusted proxy", "server:\n  trusted_proxies: [10.0.0.0/33]\n", nil, "server.trusted_proxies"},
		{"trusted proxy name", "server:\n  trusted_proxies: [proxy.local]\n", nil, "server.trusted_proxies"},
		{"tls cert missing", "server:\n  tls_listen: [127.0.0.1:6697]\n  tls_cert: /nonexistent.crt\n  tls_key: /nonexistent.key\n", nil, "server.tls_cert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tt.yaml), tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestTLSCertificate(t *testing.T) {
	dir := t.TempDir()
	a := testcert.Write(t, dir, "a")
	b := testcert.Write(t, dir, "b")
	good := fmt.Sprintf("server:\n  tls_listen: [127.0.0.1:6697]\n  tls_cert: %s\n  tls_key: %s\n", a.CertFile, a.KeyFile)
	c, err := Load(writeConfig(t, good), nil)
	if err != nil {
		t.Fatalf("valid TLS settings refused: %v", err)
	}
	cert, err := c.TLSCertificate()
	if err != nil || !bytes.Equal(cert.Certificate[0], a.Cert.Raw) {
		t.Fatalf("TLSCertificate = %v, %v; want a's certificate", cert, err)
	}
	// Only the TLS listener: plain listen may be empty.
	if _, err := Load(writeConfig(t, good+"  listen: []\n"), nil); err != nil {
		t.Fatalf("TLS-only listening refused: %v", err)
	}
	// A key that does not match the certificate is refused by name, without key material.
	mismatch := fmt.Sprintf("server:\n  tls_listen: [127.0.0.1:6697]\n  tls_cert: %s\n  tls_key: %s\n", a.CertFile, b.KeyFile)
	_, err = Load(writeConfig(t, mismatch), nil)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != "server.tls_cert" || strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatalf("mismatched pair: %v", err)
	}
}

func TestEnvOverridesFile(t *testing.T) {
	p := writeConfig(t, "directus:\n  token: fromfile\nchannel:\n  history: 5\n")
	c, err := Load(p, []string{
		"DIRECTUS_IRCD_DIRECTUS_TOKEN=fromenv", "DIRECTUS_IRCD_SERVER_LISTEN=127.0.0.1:1, [::1]:2",
		"DIRECTUS_IRCD_LOGIN_GUESTS=true", "DIRECTUS_IRCD_QUEUE_MAX_WAIT=5s", "HOME=/x",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Directus.Token != "fromenv" || c.Channel.History != 5 || !c.Login.Guests || c.Queue.MaxWait != 5*time.Second {
		t.Errorf("overrides not applied: %+v", c)
	}
	if !reflect.DeepEqual(c.Server.Listen, []string{"127.0.0.1:1", "[::1]:2"}) {
		t.Errorf("listen = %q", c.Server.Listen)
	}
}

func TestMaskedHidesSecrets(t *testing.T) {
	c := Default()
	c.Directus.Token = "tok-secret-123"
	c.Login.ServerPassword = "pw-secret-456"
	out := c.Masked()
	for _, s := range []string{"tok-secret-123", "pw-secret-456"} {
		if strings.Contains(out, s) {
			t.Errorf("Masked() shows a secret:\n%s", out)
		}
	}
	if !strings.Contains(out, "token: '********'") && !strings.Contains(out, `token: "********"`) {
		t.Errorf("Masked() does not mark the token as set:\n%s", out)
	}
	if c.Directus.Token != "tok-secret-123" {
		t.Error("Masked() changed the original")
	}
}

func TestEmptyGuestSuffixAllowed(t *testing.T) {
	c, err := Load(writeConfig(t, "login:\n  guests: true\n  guest_suffix: ''\n"), nil)
	if err != nil || c.Login.GuestSuffix != "" {
		t.Fatalf("empty guest suffix: %v, %q", err, c.Login.GuestSuffix)
	}
}

func TestMaskURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:8055", "http://127.0.0.1:8055"},
		{"https://user:p%40ss@directus.example/api", "https://********@directus.example/api"},
		{"https://user@directus.example", "https://********@directus.example"},
		{"https://u:p@ss@directus.example", "https://********@directus.example"},
	}
	for _, tt := range tests {
		if got := MaskURL(tt.in); got != tt.want {
			t.Errorf("MaskURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFieldErrorIsTyped(t *testing.T) {
	_, err := Load(writeConfig(t, "channel:\n  history: -1\n"), nil)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != "channel.history" {
		t.Fatalf("err = %v, want a FieldError for channel.history", err)
	}
}

func TestMOTDFile(t *testing.T) {
	c := Default()
	c.Server.MOTD = "inline"
	c.Server.MOTDFile = writeConfig(t, "line one\r\nline two\n\n")
	lines, err := c.MOTDLines()
	if err != nil || !reflect.DeepEqual(lines, []string{"line one", "line two"}) {
		t.Fatalf("MOTDLines = %q, %v", lines, err)
	}
}

// WebSocket listeners alone are enough; their origins and trusted proxies are read as given.
func TestWebSocketSettings(t *testing.T) {
	c, err := Load(writeConfig(t, "server:\n  listen: []\n  websocket_listen: ['[::1]:8097']\n"+
		"  websocket_origins: ['https://chat.example.com/', '*']\n  trusted_proxies: [10.0.0.0/8, '::1', 192.0.2.7]\n"), nil)
	if err != nil {
		t.Fatalf("WebSocket-only config refused: %v", err)
	}
	got, err := c.TrustedProxyPrefixes()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[10.0.0.0/8 ::1/128 192.0.2.7/32]" {
		t.Fatalf("TrustedProxyPrefixes = %v", got)
	}
	if c.TLSEnabled() {
		t.Fatal("TLSEnabled without a TLS listener")
	}
}
