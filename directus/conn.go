package directus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
)

const (
	sendQueue    = 64
	maxFrameSize = 64 << 20
	closeGrace   = time.Second
)

// ErrClosed is the cause of a Conn's end when its owner called Close.
var ErrClosed = errors.New("connection closed by the client")

var connSeq atomic.Uint64

// Conn is one authenticated WebSocket connection. It is safe for concurrent
// use. It owns a reader and a writer goroutine (and, for sessions, a renewer)
// that Close stops; it ends by itself when the socket drops.
type Conn struct {
	c    *Client
	ws   *websocket.Conn
	sess *session
	log  zerolog.Logger
	send chan []byte
	done chan struct{}
	wg   sync.WaitGroup
	seq  atomic.Uint64 // uids and pending order

	mu      sync.Mutex
	pending map[string]*pending
	subs    map[string]*Subscription
	err     error
}

// Dial connects to Directus's WebSocket endpoint and authenticates with cred.
// For email/password and refresh-token credentials it logs in over REST first
// (to learn the expiry) and renews the session before it expires.
func (c *Client) Dial(ctx context.Context, cred Credentials) (*Conn, error) {
	if err := cred.validate(); err != nil {
		return nil, err
	}
	return c.dial(ctx, c.newSession(cred))
}

func (c *Client) dial(ctx context.Context, sess *session) (*Conn, error) {
	token, err := sess.accessToken(ctx)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	ws, err := c.dialWebSocket(ctx)
	if err != nil {
		return nil, err
	}
	k := c.newConn(ws, sess)
	if err := k.authenticate(ctx, token); err != nil {
		k.Close()
		return nil, fmt.Errorf("dial: %w", err)
	}
	switch {
	case sess.renewable():
		k.wg.Add(1)
		go k.renewLoop()
	case sess.cred.StaticToken != "" && c.cfg.TokenCheck > 0:
		k.wg.Add(1)
		go k.tokenCheckLoop(token)
	}
	k.log.Debug().Str("credentials", sess.cred.kind()).Msg("directus websocket connected")
	return k, nil
}

// dialWebSocket opens the socket. No Origin header is sent (Directus answers
// a foreign Origin with 403).
func (c *Client) dialWebSocket(ctx context.Context) (*websocket.Conn, error) {
	const op = "ws dial"
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	// gorilla/websocket honours ctx's deadline but not its cancellation once connected: a
	// cancelled dial (a shutdown) closes the connection so that the handshake ends now.
	var mu sync.Mutex
	var raw net.Conn
	d := *c.dialer
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		mu.Lock()
		raw = conn
		mu.Unlock()
		return conn, err
	}
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if raw != nil {
			_ = raw.Close()
		}
	})
	defer stop()
	ws, resp, err := d.DialContext(ctx, c.wsURL, nil)
	if err == nil {
		return ws, nil
	}
	if resp != nil {
		status := resp.StatusCode
		resp.Body.Close()
		e := &Error{Op: op, Status: status, Message: http.StatusText(status)}
		if status == http.StatusNotFound {
			e.Message = "no WebSocket endpoint (set WEBSOCKETS_ENABLED=true in Directus)"
			e.Err = ErrWebSocketsDisabled
		}
		return nil, e
	}
	return nil, unreachable(op, err)
}

func (c *Client) newConn(ws *websocket.Conn, sess *session) *Conn {
	k := &Conn{
		c: c, ws: ws, sess: sess,
		log:     c.log.With().Uint64("conn", connSeq.Add(1)).Logger(),
		send:    make(chan []byte, sendQueue),
		done:    make(chan struct{}),
		pending: map[string]*pending{},
		subs:    map[string]*Subscription{},
	}
	ws.SetReadLimit(maxFrameSize)
	c.conns.Add(1) // until shutdown
	k.wg.Add(2)
	go k.readLoop()
	go k.writeLoop()
	return k
}

// Close ends the connection: pending requests fail, subscriptions' channels
// close, and the goroutines have stopped when it returns. It is idempotent.
func (k *Conn) Close() error {
	k.shutdown(ErrClosed)
	k.wg.Wait()
	return nil
}

// Done is closed when the connection has ended.
func (k *Conn) Done() <-chan struct{} { return k.done }

// Err returns why the connection ended, or nil while it is open.
func (k *Conn) Err() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.err
}

// RefreshToken returns the current refresh token of a session-based Conn
// ("" for token credentials). Refresh tokens rotate: after Dial with a
// refresh token, the caller's one is spent and this is the live one.
func (k *Conn) RefreshToken() string {
	if k.sess == nil {
		return ""
	}
	return k.sess.current().Refresh
}

// shutdown ends the connection once, with cause. It does not wait for the
// goroutines, so they may call it.
func (k *Conn) shutdown(cause error) {
	k.mu.Lock()
	if k.err != nil {
		k.mu.Unlock()
		return
	}
	k.err = cause
	subs := k.subs
	k.subs = map[string]*Subscription{}
	k.mu.Unlock()
	close(k.done)
	k.c.conns.Add(-1)
	if errors.Is(cause, ErrClosed) {
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		_ = k.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeGrace))
	}
	_ = k.ws.Close()
	for _, s := range subs {
		s.end(k.disconnected("subscription " + s.collection))
	}
	lvl := zerolog.InfoLevel
	if errors.Is(cause, ErrClosed) {
		lvl = zerolog.DebugLevel
	}
	k.log.WithLevel(lvl).Err(cause).Msg("directus websocket ended")
}

// disconnected is the error of an operation cut short by the connection's end.
func (k *Conn) disconnected(op string) *Error {
	cause := k.Err()
	if errors.Is(cause, ErrDisconnected) {
		return &Error{Op: op, Err: cause}
	}
	return &Error{Op: op, Err: fmt.Errorf("%w: %w", ErrDisconnected, cause)}
}

func (k *Conn) readLoop() {
	defer k.wg.Done()
	hb := k.c.cfg.HeartbeatTimeout
	for {
		if hb > 0 {
			_ = k.ws.SetReadDeadline(time.Now().Add(hb))
		}
		_, b, err := k.ws.ReadMessage()
		if err != nil {
			k.shutdown(readError(err, hb))
			return
		}
		f, err := decodeFrame(b)
		if err != nil {
			k.log.Warn().Err(err).Int("bytes", len(b)).Msg("directus: undecodable frame ignored")
			continue
		}
		k.dispatch(f)
	}
}

func readError(err error, hb time.Duration) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return unreachable("ws read", fmt.Errorf("heartbeat timeout: nothing received for %v", hb))
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return &Error{Op: "ws read", Err: fmt.Errorf("%w: connection closed (code %d)", ErrDisconnected, ce.Code)}
	}
	return unreachable("ws read", err)
}

func (k *Conn) writeLoop() {
	defer k.wg.Done()
	var tick <-chan time.Time
	if iv := k.c.cfg.PingInterval; iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		tick = t.C
	}
	ping := []byte(`{"type":"ping"}`)
	for {
		var b []byte
		select {
		case <-k.done:
			return
		case b = <-k.send:
		case <-tick:
			b = ping
		}
		_ = k.ws.SetWriteDeadline(time.Now().Add(k.c.cfg.RequestTimeout))
		if err := k.ws.WriteMessage(websocket.TextMessage, b); err != nil {
			k.shutdown(unreachable("ws write", err))
			return
		}
	}
}

// enqueue hands a frame to the writer.
func (k *Conn) enqueue(ctx context.Context, op string, b []byte) error {
	select {
	case k.send <- b:
		return nil
	case <-ctx.Done():
		return &Error{Op: op, Err: ctx.Err()}
	case <-k.done:
		return k.disconnected(op)
	}
}

// enqueueNoWait is for frames the reader sends (pong, unsubscribe of a
// stalled subscription); it never blocks the reader. A full queue means
// frames are being written anyway.
func (k *Conn) enqueueNoWait(b []byte) {
	select {
	case k.send <- b:
	default:
		k.log.Debug().Msg("directus: send queue full, reader frame dropped")
	}
}

func (k *Conn) newUID(prefix string) string {
	return prefix + strconv.FormatUint(k.seq.Add(1), 10)
}
