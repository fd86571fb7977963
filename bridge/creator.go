package bridge

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
)

// wsIdle is how long a user's creating socket stays open without use. An idle IRC user holds
// no Directus socket; an active one creates over a WebSocket, which costs Directus about a
// quarter less CPU per create than a REST request.
const wsIdle = time.Minute

// creator is a session's on-demand WebSocket for creates, authenticated with the session's
// current access (or static) token. It is replaced when the token changes, so it never
// outlives its token, and closed after wsIdle without use.
type creator struct {
	mu    sync.Mutex
	conn  *directus.Conn
	token string
	used  time.Time
}

// create makes one item over the socket, dialling it first if needed.
func (c *creator) create(ctx context.Context, dc *directus.Client, token, static, collection string, data any, fields []string) (json.RawMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil && (c.token != token || isClosed(c.conn)) {
		_ = c.conn.Close()
		c.conn = nil
	}
	if c.conn == nil {
		cred := directus.Credentials{AccessToken: token}
		if static != "" {
			cred = directus.Credentials{StaticToken: static}
		}
		k, err := dc.Dial(ctx, cred)
		if err != nil {
			return nil, err
		}
		c.conn, c.token = k, token
	}
	c.used = time.Now()
	return c.conn.Create(ctx, collection, data, &directus.Query{Fields: fields})
}

// closeIdle closes the socket if unused for longer than idle (or always with idle 0).
func (c *creator) closeIdle(idle time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil && time.Since(c.used) >= idle {
		_ = c.conn.Close()
		c.conn = nil
	}
}

func isClosed(k *directus.Conn) bool {
	select {
	case <-k.Done():
		return true
	default:
		return false
	}
}
