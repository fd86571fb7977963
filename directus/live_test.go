package directus_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/internal/dtest"
	"github.com/directus-ircd/directus-ircd/internal/provision"
)

// TestLive runs the request, event and error tests against one provisioned
// Directus.
func TestLive(t *testing.T) {
	in, res := dtest.StartProvisioned(t, dtest.Options{})
	t.Run("requests", func(t *testing.T) { testRequests(t, in) })
	t.Run("events", func(t *testing.T) { testEvents(t, in) })
	t.Run("errors", func(t *testing.T) { testErrors(t, in) })
	t.Run("concurrent requests", func(t *testing.T) { testConcurrent(t, in) })
	t.Run("slow consumer", func(t *testing.T) { testSlowConsumer(t, in) })
	t.Run("counts", func(t *testing.T) { testCounts(t, in) })
	t.Run("no secrets", func(t *testing.T) { testNoSecrets(t, in, res) })
	t.Run("rest", func(t *testing.T) { testREST(t, in, res) })
	t.Run("tls and base path", func(t *testing.T) { testTLSPrefix(t, in) })
}

func testRequests(t *testing.T, in *dtest.Instance) {
	c, _ := newClient(t, in, nil)
	ctx := testContext(t, time.Minute)
	ka, kadmin := dial(t, c, alice), dial(t, c, admin(t, in))

	raw, err := ka.Create(ctx, "messages", map[string]any{"text": "hello", "irc_key": "k-req-1"},
		&directus.Query{Fields: []string{"id", "text", "irc_key", "user_created.first_name"}})
	if err != nil {
		t.Fatal(err)
	}
	m := decode[message](t, raw)
	id, err := directus.ItemID(raw)
	if err != nil || id != m.ID.String() || m.Text != "hello" || firstName(m) != "Alice" || *m.IRCKey != "k-req-1" {
		t.Fatalf("create returned %s (id %q, %v)", raw, id, err)
	}

	items, err := ka.Read(ctx, "messages", directus.Query{Fields: []string{"id", "text"},
		Filter: map[string]any{"irc_key": map[string]any{"_eq": "k-req-1"}}, Limit: new(-1)})
	if err != nil || len(items) != 1 || decode[message](t, items[0]).ID != m.ID {
		t.Fatalf("read by irc_key: %v %s", err, items)
	}

	updated, err := kadmin.Update(ctx, "messages", []string{id}, map[string]any{"text": "edited"}, &directus.Query{Fields: []string{"id", "text"}})
	if err != nil || len(updated) != 1 || decode[message](t, updated[0]).Text != "edited" {
		t.Fatalf("update: %v %s", err, updated)
	}
	if err := kadmin.Delete(ctx, "messages", id); err != nil {
		t.Fatal(err)
	}
	items, err = ka.Read(ctx, "messages", directus.Query{Filter: map[string]any{"id": map[string]any{"_eq": id}}})
	if err != nil || len(items) != 0 {
		t.Fatalf("read after delete: %v %s", err, items)
	}
}

func testEvents(t *testing.T, in *dtest.Instance) {
	c, _ := newClient(t, in, nil)
	ctx := testContext(t, time.Minute)
	ka, kb, kadmin := dial(t, c, alice), dial(t, c, bob), dial(t, c, admin(t, in))
	if _, err := ka.Create(ctx, "messages", map[string]any{"text": "history"}, nil); err != nil {
		t.Fatal(err)
	}
	guide := directus.Query{Fields: []string{"*", "user_created.first_name"}, Sort: []string{"-id"}, Limit: new(1)}
	sub, err := kb.Subscribe(ctx, "messages", guide)
	if err != nil {
		t.Fatal(err)
	}
	init := nextEvent(t, sub)
	if init.Kind != directus.EventInit || len(init.Items) != 1 || decode[message](t, init.Items[0]).Text != "history" {
		t.Fatalf("init: %+v", init)
	}

	raw, err := ka.Create(ctx, "messages", map[string]any{"text": "live"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := directus.ItemID(raw)
	e := nextEvent(t, sub)
	if m := decode[message](t, e.Items[0]); e.Kind != directus.EventCreate || len(e.Items) != 1 || m.ID.String() != id || firstName(m) != "Alice" {
		t.Fatalf("create event: %+v", e)
	}

	if _, err := kadmin.Update(ctx, "messages", []string{id}, map[string]any{"text": "live, edited"}, nil); err != nil {
		t.Fatal(err)
	}
	e = nextEvent(t, sub)
	if m := decode[message](t, e.Items[0]); e.Kind != directus.EventUpdate || m.Text != "live, edited" || firstName(m) != "Alice" {
		t.Fatalf("update event: %+v", e)
	}

	if err := kadmin.Delete(ctx, "messages", id); err != nil {
		t.Fatal(err)
	}
	e = nextEvent(t, sub)
	if e.Kind != directus.EventDelete || !slices.Equal(e.IDs, []string{id}) {
		t.Fatalf("delete event: %+v", e)
	}

	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-sub.Events(); ok || sub.Err() != nil {
		t.Fatalf("after unsubscribe: channel open %v, err %v", ok, sub.Err())
	}
	// Bob's connection keeps working after the unsubscribe.
	if _, err := kb.Read(ctx, "messages", directus.Query{Limit: new(1)}); err != nil {
		t.Fatal(err)
	}
}

// The client counts the WebSockets it holds open and the subscriptions established over them
// (what the daemon's metrics report): a subscription counts from Subscribe's return until
// Unsubscribe or its connection's end, a connection from Dial until Close.
func testCounts(t *testing.T, in *dtest.Instance) {
	c, _ := newClient(t, in, nil)
	ctx := testContext(t, time.Minute)
	expect := func(when string, conns, subs int) {
		t.Helper()
		if c.OpenConns() != conns || c.Subscriptions() != subs {
			t.Fatalf("%s: %d connections, %d subscriptions; want %d, %d", when, c.OpenConns(), c.Subscriptions(), conns, subs)
		}
	}
	expect("new client", 0, 0)
	ka, kb := dial(t, c, alice), dial(t, c, bob)
	expect("two dialled", 2, 0)
	q := directus.Query{Fields: []string{"id"}, Limit: new(0)}
	sub, err := kb.Subscribe(ctx, "messages", q)
	if err != nil {
		t.Fatal(err)
	}
	expect("subscribed", 2, 1)
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	expect("unsubscribed", 2, 0)
	if _, err := kb.Subscribe(ctx, "messages", q); err != nil {
		t.Fatal(err)
	}
	if _, err := ka.Subscribe(ctx, "messages", q); err != nil {
		t.Fatal(err)
	}
	expect("two subscriptions", 2, 2)
	kb.Close()
	expect("one connection closed", 1, 1)
	ka.Close()
	expect("both closed", 0, 0)
}

func testErrors(t *testing.T, in *dtest.Instance) {
	c, _ := newClient(t, in, nil)
	ctx := testContext(t, time.Minute)
	ka := dial(t, c, alice)
	reader := readOnlyUser(t, c, in)
	kr := dial(t, c, reader)

	_, err := c.Dial(ctx, directus.Credentials{Email: dtest.AliceEmail, Password: "wrong-password"})
	expect(t, "dial with a bad password", err, directus.ErrInvalidCredentials, "INVALID_CREDENTIALS")
	_, err = c.Dial(ctx, directus.Credentials{StaticToken: "no-such-token"})
	expect(t, "dial with a bad token", err, directus.ErrInvalidCredentials, "AUTH_FAILED")

	_, err = kr.Create(ctx, "messages", map[string]any{"text": "not allowed"}, nil)
	expect(t, "create without permission", err, directus.ErrForbidden, "FORBIDDEN")
	_, err = ka.Read(ctx, "nope", directus.Query{})
	expect(t, "read of an unknown collection", err, directus.ErrForbidden, `"nope"`)
	_, err = ka.Subscribe(ctx, "nope", directus.Query{})
	expect(t, "subscribe to an unknown collection", err, directus.ErrForbidden, `"nope"`)
	_, err = ka.Subscribe(ctx, "messages", directus.Query{Fields: []string{"nosuchfield"}})
	expect(t, "subscribe to an unknown field", err, directus.ErrForbidden, "nosuchfield")
	_, err = ka.Read(ctx, "messages", directus.Query{Filter: map[string]any{"id": map[string]any{"_bogus": 1}}})
	expect(t, "malformed filter", err, directus.ErrInvalidRequest, "_bogus")
	_, err = ka.Create(ctx, "directus_users", map[string]any{"email": "x@example.com"}, nil)
	expect(t, "create in a system collection", err, directus.ErrInvalidRequest, "INVALID_COLLECTION")
	// The connection survives all of these.
	if _, err := ka.Read(ctx, "messages", directus.Query{Limit: new(1)}); err != nil {
		t.Fatalf("connection unusable after errors: %v", err)
	}
}

func expect(t *testing.T, what string, err, want error, text string) {
	t.Helper()
	var de *directus.Error
	switch {
	case !errors.Is(err, want):
		t.Errorf("%s: error %v, want %v", what, err, want)
	case !errors.As(err, &de):
		t.Errorf("%s: %T is not a *directus.Error", what, err)
	case !strings.Contains(err.Error(), text):
		t.Errorf("%s: error %q does not contain %q", what, err, text)
	default:
		t.Logf("%s: %v", what, err)
	}
}

// readOnlyUser creates a user whose policy may read messages but not create.
func readOnlyUser(t *testing.T, c *directus.Client, in *dtest.Instance) directus.Credentials {
	var policy, role struct {
		ID string `json:"id"`
	}
	adminDo(t, c, in, http.MethodPost, "/policies", map[string]any{"name": "Readers", "app_access": false, "admin_access": false}, &policy)
	adminDo(t, c, in, http.MethodPost, "/permissions", map[string]any{"policy": policy.ID, "collection": "messages",
		"action": "read", "fields": []string{"*"}}, nil)
	adminDo(t, c, in, http.MethodPost, "/roles", map[string]any{"name": "Readers", "policies": []map[string]any{{"policy": policy.ID}}}, &role)
	cred := directus.Credentials{Email: "reader@example.com", Password: "readerpass"}
	adminDo(t, c, in, http.MethodPost, "/users", map[string]any{"email": cred.Email, "password": cred.Password,
		"role": role.ID, "status": "active"}, nil)
	return cred
}

// testConcurrent: many goroutines share one Conn; each gets its own reply.
func testConcurrent(t *testing.T, in *dtest.Instance) {
	c, _ := newClient(t, in, nil)
	ctx := testContext(t, 2*time.Minute)
	k := dial(t, c, alice)
	const workers, each = 16, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				text := fmt.Sprintf("w%d-%d", w, i)
				if err := createAndReadBack(ctx, k, text); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func createAndReadBack(ctx context.Context, k *directus.Conn, text string) error {
	raw, err := k.Create(ctx, "messages", map[string]any{"text": text, "irc_key": "cc-" + text}, &directus.Query{Fields: []string{"id", "text"}})
	if err != nil {
		return fmt.Errorf("create %s: %w", text, err)
	}
	id, _ := directus.ItemID(raw)
	items, err := k.Read(ctx, "messages", directus.Query{Fields: []string{"id", "text"}, Filter: map[string]any{"id": map[string]any{"_eq": id}}})
	if err != nil {
		return fmt.Errorf("read %s: %w", text, err)
	}
	if len(items) != 1 || !strings.Contains(string(raw), `"`+text+`"`) || !strings.Contains(string(items[0]), `"`+text+`"`) {
		return fmt.Errorf("%s: got create %s, read %s", text, raw, items)
	}
	return nil
}

// testSlowConsumer: a full event buffer ends the subscription, not the Conn.
func testSlowConsumer(t *testing.T, in *dtest.Instance) {
	c, _ := newClient(t, in, func(cfg *directus.Config) { cfg.EventBuffer = 2 })
	ctx := testContext(t, time.Minute)
	ka, kb := dial(t, c, alice), dial(t, c, bob)
	sub, err := kb.Subscribe(ctx, "messages", directus.Query{Fields: []string{"id"}, Limit: new(0)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := ka.Create(ctx, "messages", map[string]any{"text": fmt.Sprint("flood ", i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var kinds []directus.EventKind
	for e := range sub.Events() { // init + one create fit; the next overflows
		kinds = append(kinds, e.Kind)
	}
	if !errors.Is(sub.Err(), directus.ErrSlowConsumer) || !slices.Equal(kinds, []directus.EventKind{directus.EventInit, directus.EventCreate}) {
		t.Fatalf("events %v, err %v", kinds, sub.Err())
	}
	if _, err := kb.Read(ctx, "messages", directus.Query{Limit: new(1)}); err != nil {
		t.Fatalf("conn unusable after overflow: %v", err)
	}
}

func testREST(t *testing.T, in *dtest.Instance, res provision.Result) {
	c, _ := newClient(t, in, nil)
	ctx := testContext(t, time.Minute)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	tok, err := c.Login(ctx, dtest.AliceEmail, dtest.AlicePassword)
	if err != nil || time.Until(tok.Expires) < 14*time.Minute {
		t.Fatalf("login: %v %v", err, tok)
	}
	me, err := c.Me(ctx, tok.Access)
	if err != nil || me.FirstName != "Alice" || me.Email != dtest.AliceEmail || me.Status != "active" {
		t.Fatalf("me: %v %+v", err, me)
	}
	raw, err := c.CreateItem(ctx, tok.Access, "messages", map[string]any{"text": "over REST", "irc_key": "rest-1"}, []string{"id", "text"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateItem(ctx, tok.Access, "messages", map[string]any{"text": "again", "irc_key": "rest-1"}, nil)
	expect(t, "create with a duplicate irc_key", err, directus.ErrDuplicate, "RECORD_NOT_UNIQUE")
	items, err := c.ReadItems(ctx, res.BridgeToken, "messages", directus.Query{Fields: []string{"id", "user_created.first_name"},
		Filter: map[string]any{"irc_key": map[string]any{"_eq": "rest-1"}}})
	if err != nil || len(items) != 1 || firstName(decode[message](t, items[0])) != "Alice" || !strings.Contains(string(raw), "over REST") {
		t.Fatalf("read back: %v %s", err, items)
	}
	users, err := c.Users(ctx, res.BridgeToken, []string{me.ID, res.BridgeUserID, "00000000-0000-0000-0000-000000000000"})
	if err != nil || len(users) != 2 {
		t.Fatalf("users: %v %+v", err, users)
	}
	rotated, err := c.Refresh(ctx, tok.Refresh)
	if err != nil || rotated.Refresh == tok.Refresh {
		t.Fatalf("refresh: %v", err)
	}
	_, err = c.Refresh(ctx, tok.Refresh)
	expect(t, "reuse of a rotated refresh token", err, directus.ErrInvalidCredentials, "INVALID_CREDENTIALS")
	if err := c.Logout(ctx, rotated.Refresh); err != nil {
		t.Fatal(err)
	}
	_, err = c.Refresh(ctx, rotated.Refresh)
	expect(t, "refresh after logout", err, directus.ErrInvalidCredentials, "INVALID_CREDENTIALS")
}
