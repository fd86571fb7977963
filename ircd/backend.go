package ircd

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// Backend is everything the server asks of the world outside IRC: who a login is, whether a
// client may join, what the channel's history is, and where a channel message goes. The
// bridge implements it; tests use an in-memory one. Calls are made from the calling
// client's command loop, so a slow backend delays only that client.
type Backend interface {
	// AuthenticatePlain checks a SASL PLAIN login (authzid is usually empty).
	// An error is answered with 904 carrying UserText(err).
	AuthenticatePlain(ctx context.Context, req AuthRequest) (*Identity, error)

	// Register completes registration. Login is the identity from SASL, or nil. The backend
	// decides whether a login is required, what PASS means, and may force a nick. An error is
	// answered with 464 carrying UserText(err), then ERROR and close.
	Register(ctx context.Context, reg Registration) (*Identity, error)

	// Join is asked when a client joins the channel. An error refuses the join with
	// UserText(err) and the client stays. The replay comes from the server (Deliver,
	// SeedHistory).
	Join(ctx context.Context, c *Client) error

	// Post hands over a channel message from a client. Stored means the message is stored:
	// the server delivers Posted.Message to the channel (see Server.Deliver) and echoes it
	// to the sender (echo-message) with the same msgid and time. Queued means it will be
	// stored later, and then delivered by the backend; a later failure is reported by the
	// backend to c (see Client.Fail). An error refuses the message with 404 carrying
	// UserText(err).
	Post(ctx context.Context, c *Client, m Outgoing) (Posted, error)

	// Disconnected is told when the connection of a client that the backend gave an
	// identity (SASL login or Register) is gone, registered or not.
	Disconnected(c *Client)
}

// RegistrationObserver is implemented by a Backend that wants the *Client of each completed
// registration (to reach it later, for example to disconnect a revoked account).
type RegistrationObserver interface {
	Registered(c *Client)
}

// NickChecker is implemented by a Backend that refuses some nicks to some connections (a
// guest may not take the nick of an account). It is asked before a connection without an
// account claims a nick at registration and before any NICK change; an error is answered
// with 432 carrying UserText(err).
type NickChecker interface {
	CheckNick(c *Client, nick string) error
}

// AuthRequest is a login attempt.
type AuthRequest struct {
	Authzid  string
	Authcid  string // the login name as the client sent it
	Password string
	Addr     netip.Addr // the client's address, for throttling
	// Notice tells the waiting client something (for example that its login is queued).
	Notice func(text string)
}

// Registration is what a client sent before registration completed.
type Registration struct {
	Nick     string // requested nick
	User     string // USER's user name (not an identity)
	Realname string
	Pass     string // PASS parameter, "" if none
	HasPass  bool
	Login    *Identity // from SASL, nil if none
	Addr     netip.Addr
	Notice   func(text string) // tells the waiting client something
}

// Identity is who a connection is, as decided by the backend.
type Identity struct {
	Account    string // "" for a guest; shown in 900, WHOIS 330 and account tags
	Nick       string // forced nick, "" keeps the requested one
	User       string // ident shown in the hostmask, "" derives one
	Host       string // host shown in the hostmask, "" uses the server's default
	NickLocked bool   // NICK changes are refused (accounts have one nick)
	NickSuffix string // a nick change must keep this suffix (guests)
	Session    any    // opaque to the server; the backend's per-login state
}

// Outgoing is a channel message sent by a client.
type Outgoing struct {
	Command string // PRIVMSG or NOTICE
	Text    string // for an ACTION, the text without the CTCP framing
	Action  bool
	Tags    map[string]string // client-only tags (+...), when message-tags is on
}

// Posted says what happened to an accepted Outgoing.
type Posted struct {
	Result PostResult
	// Message is the stored message (Stored only): its ID becomes the msgid and its Time the
	// time of every copy, the sender's echo included.
	Message *Message
	// AlreadyDelivered (Stored only) says the backend has delivered Message itself (it came
	// back from the store before Post returned); the server then only echoes it.
	AlreadyDelivered bool
}

// PostResult is whether an accepted Outgoing is stored already or later.
type PostResult int

const (
	Stored PostResult = iota
	Queued
)

// Message is channel traffic to deliver to clients.
type Message struct {
	ID      string    // becomes the msgid tag
	Time    time.Time // becomes the time tag (and a text prefix in history replay for clients without server-time)
	Nick    string    // author; "" means the server itself
	Account string    // author's account, for account-tag; "" for none
	User    string    // hostmask user, "" derives
	Host    string    // hostmask host, "" uses the server default
	Command string    // PRIVMSG or NOTICE ("" means PRIVMSG)
	Text    string    // may contain newlines and be long: the server splits it into lines
	Action  bool      // CTCP ACTION
	// ClientTags are the sender's client-only tags (+draft/reply, ...), relayed live to
	// message-tags clients; they are not stored, so the replay leaves them out.
	ClientTags map[string]string
}

// UserError is an error with a text meant for the IRC user, kept apart from the logged cause.
type UserError struct {
	Text       string // shown to the user
	Cause      error  // logged, never shown
	Disconnect string // from Post: if set, the connection is closed with this reason after Text
	Reason     string // a short fixed token for metrics (login_failures_total{reason}); "" counts as "refused"
}

func (e *UserError) Error() string {
	if e.Cause != nil {
		return e.Text + ": " + e.Cause.Error()
	}
	return e.Text
}

func (e *UserError) Unwrap() error { return e.Cause }

// DisconnectReason is the reason to close the connection with after refusing err, "" to keep it.
func DisconnectReason(err error) string {
	var ue *UserError
	if errors.As(err, &ue) {
		return ue.Disconnect
	}
	return ""
}

// UserText is the text to show a user for err.
func UserText(err error) string {
	var ue *UserError
	if errors.As(err, &ue) {
		return ue.Text
	}
	return "internal error"
}
