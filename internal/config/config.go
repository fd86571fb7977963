// Package config loads directus-ircd's configuration: a YAML file whose every key can be
// overridden by an environment variable, validated and derived once. Unknown keys, in the
// file or the environment, are errors that name the key.
package config

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment override: DIRECTUS_IRCD_DIRECTUS_TOKEN sets directus.token.
const EnvPrefix = "DIRECTUS_IRCD_"

// Config is the whole configuration. Field tags are the YAML keys; the environment name of a
// key is EnvPrefix + its path in upper case with "_" between the parts.
type Config struct {
	Server   Server   `yaml:"server"`
	Channel  Channel  `yaml:"channel"`
	Directus Directus `yaml:"directus"`
	Login    Login    `yaml:"login"`
	Queue    Queue    `yaml:"queue"`
	Health   Health   `yaml:"health"`
	Log      Log      `yaml:"log"`
}

// Server is the IRC side.
type Server struct {
	Name                string        `yaml:"name"`
	Network             string        `yaml:"network"`
	Listen              []string      `yaml:"listen"`
	TLSListen           []string      `yaml:"tls_listen"`
	TLSCert             string        `yaml:"tls_cert"`
	TLSKey              string        `yaml:"tls_key"`
	WebSocketListen     []string      `yaml:"websocket_listen"`
	WebSocketTLSListen  []string      `yaml:"websocket_tls_listen"`
	WebSocketOrigins    []string      `yaml:"websocket_origins"`
	TrustedProxies      []string      `yaml:"trusted_proxies"`
	MOTD                string        `yaml:"motd"`
	MOTDFile            string        `yaml:"motd_file"`
	MaxClients          int           `yaml:"max_clients"`
	MaxClientsPerIP     int           `yaml:"max_clients_per_ip"`
	RegistrationTimeout time.Duration `yaml:"registration_timeout"`
	PingInterval        time.Duration `yaml:"ping_interval"`
	PingTimeout         time.Duration `yaml:"ping_timeout"`
	SendQueue           int           `yaml:"send_queue"`
	FloodRate           float64       `yaml:"flood_rate"`
	FloodBurst          int           `yaml:"flood_burst"`
	ShutdownTimeout     time.Duration `yaml:"shutdown_timeout"`
}

// Channel is the one channel and its history.
type Channel struct {
	Name     string `yaml:"name"`
	Topic    string `yaml:"topic"`
	AutoJoin bool   `yaml:"auto_join"`
	History  int    `yaml:"history"`
	MaxLines int    `yaml:"max_lines"`
}

// Directus is the connection to Directus.
type Directus struct {
	URL            string        `yaml:"url"`
	Token          string        `yaml:"token" secret:"true"`
	Collection     string        `yaml:"collection"`
	CAFile         string        `yaml:"ca_file"`
	DialTimeout    time.Duration `yaml:"dial_timeout"`
	RequestTimeout time.Duration `yaml:"request_timeout"`
}

// Login is how IRC logins map to Directus users.
type Login struct {
	EmailDomain        string        `yaml:"email_domain"`
	ServerPassword     string        `yaml:"server_password" secret:"true"`
	Guests             bool          `yaml:"guests"`
	GuestsMayPost      bool          `yaml:"guests_may_post"`
	GuestSuffix        string        `yaml:"guest_suffix"`
	FailuresPerAddress int           `yaml:"failures_per_address"`
	FailuresPerAccount int           `yaml:"failures_per_account"`
	FailureWindow      time.Duration `yaml:"failure_window"`
	RevocationCheck    time.Duration `yaml:"revocation_check"`
	MaxConcurrent      int           `yaml:"max_concurrent"`
	QueueTimeout       time.Duration `yaml:"queue_timeout"`
}

// Queue bounds what is held for Directus while it is unreachable.
type Queue struct {
	PerUser int           `yaml:"per_user"`
	Total   int           `yaml:"total"`
	MaxWait time.Duration `yaml:"max_wait"`
}

// Health is the HTTP health endpoint.
type Health struct {
	Listen string `yaml:"listen"`
}

// Log is logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Default is the configuration with no file and no environment.
func Default() Config {
	return Config{
		Server: Server{
			Name: "irc.directus.local", Network: "DirectusChat",
			Listen:          []string{"127.0.0.1:6667"},
			TLSListen:       []string{},
			WebSocketListen: []string{}, WebSocketTLSListen: []string{}, WebSocketOrigins: []string{}, TrustedProxies: []string{},
			MaxClients: 10000, MaxClientsPerIP: 200,
			RegistrationTimeout: 60 * time.Second,
			PingInterval:        90 * time.Second, PingTimeout: 120 * time.Second,
			SendQueue: 1024, FloodRate: 4, FloodBurst: 20,
			ShutdownTimeout: 10 * time.Second,
		},
		Channel: Channel{Name: "#chat", Topic: "Chat with the Directus web page", History: 50, MaxLines: 20},
		Directus: Directus{
			URL: "http://127.0.0.1:8055", Collection: "messages",
			DialTimeout: 10 * time.Second, RequestTimeout: 15 * time.Second,
		},
		Login: Login{
			EmailDomain: "example.com", GuestSuffix: "|guest",
			FailuresPerAddress: 10, FailuresPerAccount: 10, FailureWindow: 15 * time.Minute,
			RevocationCheck: time.Minute, MaxConcurrent: 4, QueueTimeout: 5 * time.Minute,
		},
		Queue: Queue{PerUser: 20, Total: 1000, MaxWait: 2 * time.Minute},
		Log:   Log{Level: "info", Format: "auto"},
	}
}

// Load reads path ("" for none) over the defaults, then applies environment overrides from
// environ (os.Environ() form), then validates.
func Load(path string, environ []string) (Config, error) {
	c := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		if err := decodeYAML(data, &c); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(&c, environ); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

func decodeYAML(data []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nameKeys(data, err)
	}
	return nil
}

// nameKeys rewrites yaml.v3's "line N: ..." messages to also name the key on that line.
func nameKeys(data []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return err
	}
	keyAt := map[int]string{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if n.Kind == yaml.DocumentNode {
			for _, c := range n.Content {
				walk(c, path)
			}
			return
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if path != "" {
				k = path + "." + k
			}
			keyAt[n.Content[i+1].Line] = k
			walk(n.Content[i+1], k)
		}
	}
	walk(&root, "")
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		var line int
		if _, scanErr := fmt.Sscanf(m, "line %d:", &line); scanErr == nil && keyAt[line] != "" {
			m = keyAt[line] + " (" + m + ")"
		}
		msgs[i] = m
	}
	return errors.New(strings.Join(msgs, "; "))
}

// FieldError is a configuration error about one key.
type FieldError struct {
	Key string // dotted path, e.g. directus.url
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

// Validate checks every key that has rules and names the first bad one.
func (c *Config) Validate() error {
	bad := func(key, format string, a ...any) error { return &FieldError{Key: key, Msg: fmt.Sprintf(format, a...)} }
	if len(c.Server.Listen)+len(c.Server.TLSListen)+len(c.Server.WebSocketListen)+len(c.Server.WebSocketTLSListen) == 0 {
		return bad("server.listen", "at least one address (or one in server.tls_listen, server.websocket_listen or server.websocket_tls_listen) is required")
	}
	for _, l := range []struct {
		key   string
		addrs []string
	}{
		{"server.listen", c.Server.Listen}, {"server.tls_listen", c.Server.TLSListen},
		{"server.websocket_listen", c.Server.WebSocketListen}, {"server.websocket_tls_listen", c.Server.WebSocketTLSListen},
	} {
		for _, a := range l.addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return bad(l.key, "%q is not host:port", a)
			}
		}
	}
	if c.TLSEnabled() {
		if _, err := c.TLSCertificate(); err != nil {
			return err
		}
	}
	if err := c.validateWebSocket(); err != nil {
		return err
	}
	if c.Server.Name == "" || strings.ContainsAny(c.Server.Name, " \r\n") {
		return bad("server.name", "must be a non-empty name without spaces")
	}
	if c.Server.MaxClients < 1 || c.Server.MaxClientsPerIP < 1 {
		return bad("server.max_clients", "max_clients and max_clients_per_ip must be positive")
	}
	if c.Server.SendQueue < 16 {
		return bad("server.send_queue", "must be at least 16 lines")
	}
	if c.Server.FloodRate <= 0 || c.Server.FloodBurst < 1 {
		return bad("server.flood_rate", "flood_rate and flood_burst must be positive")
	}
	for key, d := range map[string]time.Duration{
		"server.registration_timeout": c.Server.RegistrationTimeout, "server.ping_interval": c.Server.PingInterval,
		"server.ping_timeout": c.Server.PingTimeout, "server.shutdown_timeout": c.Server.ShutdownTimeout,
		"directus.dial_timeout": c.Directus.DialTimeout, "directus.request_timeout": c.Directus.RequestTimeout,
		"queue.max_wait": c.Queue.MaxWait, "login.failure_window": c.Login.FailureWindow,
		"login.revocation_check": c.Login.RevocationCheck, "login.queue_timeout": c.Login.QueueTimeout,
	} {
		if d <= 0 {
			return bad(key, "must be a positive duration such as 30s")
		}
	}
	if !strings.HasPrefix(c.Channel.Name, "#") || len(c.Channel.Name) < 2 || strings.ContainsAny(c.Channel.Name, " ,\x07\r\n") {
		return bad("channel.name", "%q is not a channel name like #chat", c.Channel.Name)
	}
	if c.Channel.History < 0 || c.Channel.History > 1000 {
		return bad("channel.history", "must be between 0 and 1000")
	}
	if c.Channel.MaxLines < 2 || c.Channel.MaxLines > 1000 {
		return bad("channel.max_lines", "must be between 2 and 1000")
	}
	u, err := url.Parse(c.Directus.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("directus.url", "%q is not an http(s)://host[:port][/path] URL", MaskURL(c.Directus.URL))
	}
	if c.Directus.Collection == "" {
		return bad("directus.collection", "is required")
	}
	if c.Login.EmailDomain == "" || strings.ContainsAny(c.Login.EmailDomain, "@ ") {
		return bad("login.email_domain", "must be a domain such as example.com")
	}
	// Empty is allowed: guests are then told apart by the host "guest" and having no account.
	if c.Login.GuestSuffix != "" && (len(c.Login.GuestSuffix) > 16 || strings.ContainsAny(c.Login.GuestSuffix, " ,*?!@#:\x00\r\n")) {
		return bad("login.guest_suffix", "%q is not valid in a nick (at most 16 bytes, none of space , * ? ! @ # :)", c.Login.GuestSuffix)
	}
	if c.Login.FailuresPerAddress < 1 {
		return bad("login.failures_per_address", "must be positive")
	}
	if c.Login.FailuresPerAccount < 1 || c.Login.FailuresPerAccount > 15 {
		return bad("login.failures_per_account", "must be between 1 and 15 (Directus suspends an account after 25 failed logins)")
	}
	if c.Login.MaxConcurrent < 1 || c.Login.MaxConcurrent > 64 {
		return bad("login.max_concurrent", "must be between 1 and 64")
	}
	if c.Queue.PerUser < 1 || c.Queue.Total < c.Queue.PerUser {
		return bad("queue.total", "per_user must be positive and total at least per_user")
	}
	switch c.Log.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		return bad("log.level", "%q is not one of trace, debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "json", "console":
	default:
		return bad("log.format", "%q is not one of auto, json, console", c.Log.Format)
	}
	if c.Health.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Health.Listen); err != nil {
			return bad("health.listen", "%q is not host:port", c.Health.Listen)
		}
	}
	return nil
}

// TLSEnabled reports whether any listener (IRC or WebSocket) serves TLS with
// server.tls_cert and server.tls_key.
func (c *Config) TLSEnabled() bool {
	return len(c.Server.TLSListen) > 0 || len(c.Server.WebSocketTLSListen) > 0
}

// TLSCertificate loads server.tls_cert and server.tls_key (read again on every call, so a
// reload picks up renewed files).
func (c *Config) TLSCertificate() (*tls.Certificate, error) {
	switch {
	case c.Server.TLSCert == "":
		return nil, &FieldError{Key: "server.tls_cert", Msg: "required with server.tls_listen or server.websocket_tls_listen (a PEM certificate chain file)"}
	case c.Server.TLSKey == "":
		return nil, &FieldError{Key: "server.tls_key", Msg: "required with server.tls_listen or server.websocket_tls_listen (a PEM private key file)"}
	}
	if _, err := os.Stat(c.Server.TLSCert); err != nil {
		return nil, &FieldError{Key: "server.tls_cert", Msg: err.Error()}
	}
	if _, err := os.Stat(c.Server.TLSKey); err != nil {
		return nil, &FieldError{Key: "server.tls_key", Msg: err.Error()}
	}
	cert, err := tls.LoadX509KeyPair(c.Server.TLSCert, c.Server.TLSKey)
	if err != nil {
		// crypto/tls's messages name no file and show no key material.
		return nil, &FieldError{Key: "server.tls_cert", Msg: "with server.tls_key: " + err.Error()}
	}
	return &cert, nil
}

// MOTDLines is the message of the day: motd_file if set, else motd.
func (c *Config) MOTDLines() ([]string, error) {
	text := c.Server.MOTD
	if c.Server.MOTDFile != "" {
		b, err := os.ReadFile(c.Server.MOTDFile)
		if err != nil {
			return nil, &FieldError{Key: "server.motd_file", Msg: err.Error()}
		}
		text = string(b)
	}
	text = strings.TrimRight(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	if text == "" {
		return nil, nil
	}
	return strings.Split(text, "\n"), nil
}
