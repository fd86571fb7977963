// Package directus is a client for Directus's realtime WebSocket API plus the
// few REST calls directus-ircd needs. It knows nothing of IRC. Everything it
// relies on is written down in docs/DIRECTUS-PROTOCOL.md in this repository (Directus
// 12.4.0, verified on a real server).
//
// # Client
//
// A Client (New) holds the base URL, HTTP client and WebSocket dialer, and no
// credentials. It is safe for concurrent use. Its REST methods take the
// token to use per call (Login, Refresh, Logout, Me, Users, CreateItem,
// ReadItems, Do, Ping).
//
// # Connections and their lifetime
//
// Dial opens a Conn: one WebSocket, authenticated with the given
// Credentials. The caller owns the Conn and must Close it; Close stops its
// goroutines (one reader, one writer: gorilla/websocket allows one writer;
// plus a renewer for sessions) and returns when they are gone. Requests
// (Create, Read, Update, Delete, Subscribe) may be made from any goroutine;
// replies are matched by uid because Directus answers out of order.
//
// A Conn ends by itself when the socket drops, when nothing is received for
// Config.HeartbeatTimeout (it answers Directus's pings and sends its own
// every Config.PingInterval), or when Directus reports TOKEN_EXPIRED or an
// auth failure. Then Done is closed, Err says why, every pending request
// fails with an error matching ErrDisconnected, and every subscription's
// channel closes. A Conn never reconnects by itself: events sent while it is
// down are lost, so whoever reconnects must back-fill.
//
// # Expiry
//
// Email/password and refresh-token credentials start a session over REST
// (Login or Refresh), because only REST reveals when the access token
// expires. The socket is authenticated with the access token, and before it
// expires (a third of its lifetime, at most a minute, ahead) the Conn
// refreshes the session over REST (refresh tokens are single-use and rotate)
// and re-authenticates the socket with the new access token. Subscriptions
// stay in place and no event is lost. If renewal fails until the token
// expires, or TOKEN_EXPIRED arrives anyway, the Conn ends with
// ErrTokenExpired rather than silently losing events. Static tokens never
// expire; a plain access token cannot be renewed, so its Conn ends when it
// expires.
//
// # Reconnecting
//
// RunStream keeps one subscription alive: it dials, subscribes, calls
// StreamHandler.Connected (back-fill there) before any live event, passes
// events on, and after a drop calls Disconnected and reconnects with
// exponential backoff and jitter.
//
// # Errors and secrets
//
// Failures are *Error; errors.Is classifies them with ErrInvalidCredentials,
// ErrTokenExpired, ErrForbidden, ErrNotFound, ErrInvalidRequest,
// ErrDuplicate, ErrUnreachable, ErrProtocol, ErrDisconnected and
// ErrSlowConsumer. Passwords and tokens never appear in error texts or log
// lines (zerolog, Config.Logger); frames are logged by type, uid and code
// only.
package directus
