package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// itemFields is the query the daemon's bridge uses for its subscription and its creates
// (bridge/item.go). The direct measurements use the same fields, so Directus does the same
// re-read work on both paths, and the event frames the daemon receives have the same size as
// the ones ircbench's own subscriber receives (used to count the daemon's subscriptions).
var itemFields = []string{"id", "text", "date_created", "irc_nick", "irc_key", "user_created"}

// admin is a Directus REST client with an administrator's access token.
type admin struct {
	base  string
	token string
	http  *http.Client
}

func newAdmin(base string) *admin {
	return &admin{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 30 * time.Second}}
}

// call does one REST request; out, when non-nil, receives the response's "data".
func (a *admin) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, excerpt(raw, 300))
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return json.Unmarshal(env.Data, out)
}

func (a *admin) login(ctx context.Context, email, password string) error {
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := a.call(ctx, "POST", "/auth/login", map[string]string{"email": email, "password": password}, &out); err != nil {
		return fmt.Errorf("admin login: %w", err)
	}
	if out.AccessToken == "" {
		return errors.New("admin login: no access_token in the reply")
	}
	a.token = out.AccessToken
	return nil
}

// roleID is the id of the role called name (the chat users' "IRC Users", created by `directus-ircd setup`).
func (a *admin) roleID(ctx context.Context, name string) (string, error) {
	var roles []struct {
		ID string `json:"id"`
	}
	if err := a.call(ctx, "GET", "/roles?fields=id&filter[name][_eq]="+url.QueryEscape(name), nil, &roles); err != nil {
		return "", err
	}
	if len(roles) == 0 {
		return "", fmt.Errorf("no role %q in Directus: run `directus-ircd setup` first", name)
	}
	return roles[0].ID, nil
}

// ensureUser creates (or finds) an active user in role with that first name and gives it the
// static token. It returns the user id.
func (a *admin) ensureUser(ctx context.Context, role, email, firstName, token string) (string, error) {
	var found []struct {
		ID string `json:"id"`
	}
	if err := a.call(ctx, "GET", "/users?fields=id&filter[email][_eq]="+url.QueryEscape(email), nil, &found); err != nil {
		return "", err
	}
	var id string
	if len(found) > 0 {
		id = found[0].ID
	} else {
		var created struct {
			ID string `json:"id"`
		}
		err := a.call(ctx, "POST", "/users", map[string]any{
			"email": email, "first_name": firstName, "role": role, "status": "active",
		}, &created)
		if err != nil {
			return "", err
		}
		id = created.ID
	}
	err := a.call(ctx, "PATCH", "/users/"+id, map[string]any{
		"token": token, "first_name": firstName, "role": role, "status": "active",
	}, nil)
	return id, err
}

// restCreate creates an item over REST as the daemon's bridge does (directus/rest.go
// CreateItem: POST /items/messages?fields=… with the user's token), for the latency breakdown.
func restCreate(ctx context.Context, hc *http.Client, base, token, text string) error {
	body, _ := json.Marshal(map[string]any{"text": text, "irc_key": randomHex(16)})
	u := strings.TrimRight(base, "/") + "/items/messages?" + url.Values{"fields": {strings.Join(itemFields, ",")}}.Encode()
	req, err := http.NewRequestWithContext(ctx, "POST", u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("REST create: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("REST create: HTTP %d: %s", resp.StatusCode, excerpt(raw, 200))
	}
	return nil
}

// wsFrame is the part of a Directus WebSocket frame ircbench looks at.
type wsFrame struct {
	Type   string          `json:"type"`
	Event  string          `json:"event"`
	Status string          `json:"status"`
	UID    json.RawMessage `json:"uid"`
	Data   json.RawMessage `json:"data"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	At time.Time `json:"-"` // arrival
}

func (f *wsFrame) uid() string {
	if len(f.UID) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(f.UID, &s) == nil {
		return s
	}
	return string(f.UID)
}

func (f *wsFrame) err() error {
	if f.Status != "error" {
		return nil
	}
	if f.Error == nil {
		return fmt.Errorf("directus %s error", f.Type)
	}
	return fmt.Errorf("directus %s error %s: %s", f.Type, f.Error.Code, f.Error.Message)
}

// eventItem is the part of a subscription event's item ircbench needs.
type eventItem struct {
	ID   json.RawMessage `json:"id"`
	Text string          `json:"text"`
}

// wsEvent is one subscription event: what arrived, when, and the frame's size on the wire
// (payload plus the WebSocket frame header), for the subscription count.
type wsEvent struct {
	Items []eventItem
	At    time.Time
	Wire  int
}

// wsClient is one Directus WebSocket connection authenticated with a static token. A reader
// goroutine answers heartbeats, routes `items` replies by uid and hands create events of its
// subscription to onEvent (called on the reader goroutine: keep it short).
type wsClient struct {
	name    string
	conn    *websocket.Conn
	wmu     sync.Mutex
	pmu     sync.Mutex
	pending map[string]chan wsFrame
	nextUID atomic.Uint64
	onEvent func(ev wsEvent)
	done    chan struct{}
	err     atomic.Pointer[error]
	lastErr atomic.Pointer[string] // for the report
}

func wsURL(base string) (string, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("directus URL %q: scheme must be http or https", base)
	}
	u.Path += "/websocket"
	return u.String(), nil
}

// dialWS connects and authenticates with {type:'auth', access_token}.
func dialWS(ctx context.Context, base, name, token string, onEvent func(wsEvent)) (*wsClient, error) {
	u, err := wsURL(base)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	d := websocket.Dialer{HandshakeTimeout: 15 * time.Second, ReadBufferSize: 16 << 10, WriteBufferSize: 8 << 10}
	conn, resp, err := d.DialContext(dctx, u, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("websocket %s: %w", name, err)
	}
	conn.SetReadLimit(64 << 20)
	w := &wsClient{name: name, conn: conn, pending: map[string]chan wsFrame{}, onEvent: onEvent, done: make(chan struct{})}
	go w.readLoop()
	reply, err := w.request(ctx, map[string]any{"type": "auth", "access_token": token})
	if err == nil {
		err = reply.err()
	}
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("websocket %s auth: %w", name, err)
	}
	return w, nil
}

func (w *wsClient) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
	_ = w.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return w.conn.WriteMessage(websocket.TextMessage, b)
}

// request sends msg with a fresh uid and waits for the reply with that uid.
func (w *wsClient) request(ctx context.Context, msg map[string]any) (wsFrame, error) {
	ch, err := w.send(msg)
	if err != nil {
		return wsFrame{}, err
	}
	return w.wait(ctx, ch)
}

// send sends msg with a fresh uid and returns the channel its reply will arrive on.
func (w *wsClient) send(msg map[string]any) (chan wsFrame, error) {
	uid := w.name + "-" + strconv.FormatUint(w.nextUID.Add(1), 10)
	msg["uid"] = uid
	ch := make(chan wsFrame, 1)
	w.pmu.Lock()
	w.pending[uid] = ch
	w.pmu.Unlock()
	if err := w.write(msg); err != nil {
		w.pmu.Lock()
		delete(w.pending, uid)
		w.pmu.Unlock()
		return nil, fmt.Errorf("websocket %s: %w", w.name, err)
	}
	return ch, nil
}

func (w *wsClient) wait(ctx context.Context, ch chan wsFrame) (wsFrame, error) {
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case f := <-ch:
		return f, nil
	case <-w.done:
		return wsFrame{}, fmt.Errorf("websocket %s closed: %v", w.name, w.closeErr())
	case <-t.C:
		return wsFrame{}, fmt.Errorf("websocket %s: no reply within 30 s", w.name)
	case <-ctx.Done():
		return wsFrame{}, ctx.Err()
	}
}

func (w *wsClient) closeErr() error {
	if p := w.err.Load(); p != nil {
		return *p
	}
	return nil
}

// create sends an items create of text, asking for the daemon's fields in the reply, and
// returns the channel of its reply.
func (w *wsClient) create(text string) (chan wsFrame, error) {
	return w.createWith(text, itemFields)
}

// createWith is create with the reply's fields.
func (w *wsClient) createWith(text string, fields []string) (chan wsFrame, error) {
	return w.send(map[string]any{
		"type": "items", "collection": "messages", "action": "create",
		"data": map[string]any{"text": text}, "query": map[string]any{"fields": fields},
	})
}

// subscribe subscribes to create events of messages with the given fields and no history.
func (w *wsClient) subscribe(ctx context.Context, fields []string) error {
	f, err := w.request(ctx, map[string]any{
		"type": "subscribe", "collection": "messages", "event": "create",
		"query": map[string]any{"fields": fields, "limit": 0},
	})
	if err != nil {
		return err
	}
	if err := f.err(); err != nil {
		return fmt.Errorf("websocket %s subscribe: %w", w.name, err)
	}
	return nil
}

func (w *wsClient) readLoop() {
	defer close(w.done)
	for {
		_, raw, err := w.conn.ReadMessage()
		at := time.Now()
		if err != nil {
			w.err.Store(&err)
			return
		}
		var f wsFrame
		if json.Unmarshal(raw, &f) != nil {
			continue
		}
		f.At = at
		switch f.Type {
		case "ping":
			_ = w.write(map[string]any{"type": "pong"})
			continue
		case "subscription":
			if f.Event == "create" && w.onEvent != nil {
				var items []eventItem
				if json.Unmarshal(f.Data, &items) == nil {
					w.onEvent(wsEvent{Items: items, At: at, Wire: wireSize(len(raw))})
				}
			}
		}
		if uid := f.uid(); uid != "" {
			w.pmu.Lock()
			ch := w.pending[uid]
			delete(w.pending, uid)
			w.pmu.Unlock()
			if ch != nil {
				ch <- f
			}
		}
	}
}

// wireSize is a server-to-client (unmasked) WebSocket text frame's size for a payload of n bytes.
func wireSize(n int) int {
	switch {
	case n < 126:
		return n + 2
	case n < 1<<16:
		return n + 4
	default:
		return n + 10
	}
}

func (w *wsClient) Close() {
	w.wmu.Lock()
	_ = w.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = w.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	w.wmu.Unlock()
	_ = w.conn.Close()
	<-w.done
}

func excerpt(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
