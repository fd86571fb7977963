package provision_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/internal/dtest"
	"github.com/directus-ircd/directus-ircd/internal/provision"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// admin is a REST helper acting as the instance's admin.
type admin struct {
	t  *testing.T
	in *dtest.Instance
	c  *directus.Client
}

func newAdmin(t *testing.T, in *dtest.Instance) admin {
	c, err := directus.New(directus.Config{URL: in.URL})
	if err != nil {
		t.Fatal(err)
	}
	return admin{t, in, c}
}

func (a admin) do(method, path string, body, out any) {
	a.t.Helper()
	if err := a.c.Do(context.Background(), a.in.AdminToken(a.t), method, path, body, out); err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
}

// dump is everything setup may touch, plus the count of create/update/delete
// activity (a password re-PATCH would show there).
func (a admin) dump() map[string]any {
	a.t.Helper()
	paths := []string{
		"/collections/messages", "/fields/messages", "/relations",
		"/roles?fields=*&sort=id", "/policies?fields=*&sort=id", "/access?fields=*&sort=id",
		"/permissions?fields=*&sort=id&limit=-1",
		"/users?fields=id,email,first_name,last_name,role,status,token&sort=email",
		`/activity?aggregate[count]=*&filter={"action":{"_in":["create","update","delete"]}}`,
	}
	d := map[string]any{}
	for _, p := range paths {
		var v any
		a.do(http.MethodGet, p, nil, &v)
		d[p] = v
	}
	return d
}

// setup runs provision as the instance's admin with demo users; tweak adjusts
// the options. It returns the result, the progress output and the error.
func setup(t *testing.T, in *dtest.Instance, tweak func(*provision.Options)) (provision.Result, string, error) {
	t.Helper()
	var out bytes.Buffer
	o := provision.Options{URL: in.URL, AdminEmail: in.AdminEmail, AdminPassword: in.AdminPassword, DemoUsers: true, Out: &out}
	if tweak != nil {
		tweak(&o)
	}
	res, err := provision.Run(testContext(t), o)
	return res, out.String(), err
}

func TestRunIsIdempotent(t *testing.T) {
	in := dtest.Start(t, dtest.Options{})
	start := time.Now()
	res1, out1, err := setup(t, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("run 1 (%v):\n%s", time.Since(start).Round(time.Millisecond), out1)
	if len(res1.Changed) < 10 || len(res1.BridgeToken) < 40 || res1.BridgeUserID == "" || res1.RoleID == "" || res1.PolicyID == "" ||
		res1.BridgeRoleID == "" || res1.BridgePolicyID == "" || !res1.NewToken || res1.ReplacedToken {
		t.Fatalf("run 1 result incomplete: %+v", res1)
	}
	a := newAdmin(t, in)
	before := a.dump()

	start = time.Now()
	res2, out2, err := setup(t, in, func(o *provision.Options) { o.BridgeToken = res1.BridgeToken })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("run 2 (%v):\n%s", time.Since(start).Round(time.Millisecond), out2)
	if len(res2.Changed) != 0 || res2.NewToken {
		t.Errorf("run 2 changed %q (new token: %v)", res2.Changed, res2.NewToken)
	}
	res1.Changed, res1.NewToken, res1.ReplacedToken = nil, false, false
	if !reflect.DeepEqual(res1, res2) {
		t.Errorf("run 2 result differs: %+v vs %+v", res2, res1)
	}
	for _, secret := range []string{res1.BridgeToken, in.AdminPassword, "alicepass", "bobpass", "carolpass"} {
		if strings.Contains(out1+out2, secret) {
			t.Errorf("progress output contains a secret (%.4s…)", secret)
		}
	}
	if !strings.Contains(out2, "nothing to change") {
		t.Errorf("run 2 did not say it changed nothing:\n%s", out2)
	}
	if after := a.dump(); !reflect.DeepEqual(before, after) {
		for k := range before {
			if !reflect.DeepEqual(before[k], after[k]) {
				t.Errorf("%s changed:\nbefore %v\nafter  %v", k, before[k], after[k])
			}
		}
	}
	t.Run("guide flow", func(t *testing.T) { testGuideFlow(t, in) })
	t.Run("least privilege", func(t *testing.T) { testLeastPrivilege(t, in, res1) })
	t.Run("existing token not given", func(t *testing.T) { testTokenNotGiven(t, in, res1) })
	token := res1.BridgeToken // the subtests below replace it
	t.Run("token reset", func(t *testing.T) { token = testTokenReset(t, in, res1) })
	t.Run("rotate token", func(t *testing.T) { token = testRotateToken(t, in, token) })
	t.Run("own profile only", func(t *testing.T) { testUserReadOwn(t, in, token) })
}

// testGuideFlow is the chat guide over the WebSocket API, with two demo
// users: both authenticate, bob subscribes with the guide's query, alice
// creates, bob receives the create with user_created.first_name "Alice".
func testGuideFlow(t *testing.T, in *dtest.Instance) {
	c := newAdmin(t, in).c
	ctx := testContext(t)
	alice, err := c.Dial(ctx, directus.Credentials{Email: dtest.AliceEmail, Password: dtest.AlicePassword})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	bob, err := c.Dial(ctx, directus.Credentials{Email: dtest.BobEmail, Password: dtest.BobPassword})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	sub, err := bob.Subscribe(ctx, "messages", directus.Query{Fields: []string{"*", "user_created.first_name"}, Sort: []string{"date_created"}})
	if err != nil {
		t.Fatal(err)
	}
	if init := <-sub.Events(); init.Kind != directus.EventInit {
		t.Fatalf("first event %v", init.Kind)
	}
	if _, err := alice.Create(ctx, "messages", map[string]any{"text": "hello from alice"}, nil); err != nil {
		t.Fatal(err)
	}
	var e directus.Event
	select {
	case e = <-sub.Events():
	case <-time.After(20 * time.Second):
		t.Fatal("bob received no event")
	}
	var m struct {
		Text        string `json:"text"`
		UserCreated struct {
			FirstName string `json:"first_name"`
		} `json:"user_created"`
	}
	if e.Kind != directus.EventCreate || len(e.Items) != 1 || json.Unmarshal(e.Items[0], &m) != nil ||
		m.UserCreated.FirstName != "Alice" || m.Text != "hello from alice" {
		t.Fatalf("bob got %v %s", e.Kind, e.Items)
	}
}

// testTokenNotGiven: without the token, setup cannot know the bridge user's
// (Directus never shows it again) and refuses rather than break a daemon
// that uses it; the token keeps working.
func testTokenNotGiven(t *testing.T, in *dtest.Instance, prev provision.Result) {
	_, _, err := setup(t, in, nil)
	assertErr(t, err, provision.ErrBridgeToken, "already has a static token", prev.BridgeToken)
	for _, want := range []string{"-token", "DIRECTUS_IRCD_DIRECTUS_TOKEN", "-rotate-token"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s", want)
		}
	}
	assertBridgeToken(t, in, prev.BridgeToken, prev.BridgeUserID)
}

// testTokenReset: a token that no longer works is replaced, and only that.
func testTokenReset(t *testing.T, in *dtest.Instance, prev provision.Result) string {
	res, _, err := setup(t, in, func(o *provision.Options) { o.BridgeToken = "not-the-bridge-token-0123456789abcdef" })
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != 1 || !strings.Contains(res.Changed[0], "set a new one") || res.BridgeToken == prev.BridgeToken || !res.ReplacedToken {
		t.Fatalf("changed %q, token rotated %v, new %v", res.Changed, res.BridgeToken != prev.BridgeToken, res.NewToken)
	}
	c := newAdmin(t, in).c
	if me, err := c.Me(context.Background(), res.BridgeToken); err != nil || me.ID != prev.BridgeUserID {
		t.Fatalf("new token: %v %+v", err, me)
	}
	if _, err := c.Me(context.Background(), prev.BridgeToken); !errors.Is(err, directus.ErrInvalidCredentials) {
		t.Fatalf("old token still works: %v", err)
	}
	return res.BridgeToken
}

// testRotateToken: -rotate-token replaces a working token; the old one is
// rejected from then on, the new one does what the bridge does.
func testRotateToken(t *testing.T, in *dtest.Instance, token string) string {
	res, _, err := setup(t, in, func(o *provision.Options) { o.BridgeToken, o.RotateToken = token, true })
	if err != nil {
		t.Fatal(err)
	}
	if !res.NewToken || !res.ReplacedToken || res.BridgeToken == token || len(res.Changed) != 1 || !strings.Contains(res.Changed[0], "rotate") {
		t.Fatalf("rotate: changed %q, new %v", res.Changed, res.NewToken)
	}
	if _, err := newAdmin(t, in).c.Me(context.Background(), token); !errors.Is(err, directus.ErrInvalidCredentials) {
		t.Fatalf("rotated-away token still works: %v", err)
	}
	assertBridgeToken(t, in, res.BridgeToken, res.BridgeUserID)
	return res.BridgeToken
}

func TestRunErrors(t *testing.T) {
	in := dtest.Start(t, dtest.Options{})
	t.Run("wrong admin password", func(t *testing.T) {
		const secret = "wrong-password-4711"
		_, err := provision.Run(testContext(t), provision.Options{URL: in.URL, AdminEmail: in.AdminEmail, AdminPassword: secret})
		assertErr(t, err, provision.ErrAdminAuth, "rejected the admin email or password", secret)
	})
	t.Run("wrong admin token", func(t *testing.T) {
		const secret = "wrong-token-4711"
		_, err := provision.Run(testContext(t), provision.Options{URL: in.URL, AdminToken: secret})
		assertErr(t, err, provision.ErrAdminAuth, "rejected the admin token", secret)
	})
	var token string // the bridge's, from the first setup
	t.Run("not an admin", func(t *testing.T) {
		res, _, err := setup(t, in, nil)
		if err != nil {
			t.Fatal(err)
		}
		token = res.BridgeToken
		_, err = provision.Run(testContext(t), provision.Options{URL: in.URL, AdminEmail: dtest.AliceEmail, AdminPassword: dtest.AlicePassword})
		assertErr(t, err, provision.ErrAdminAuth, "not an administrator", dtest.AlicePassword)
	})
	t.Run("unreachable", func(t *testing.T) {
		url := "http://127.0.0.1:" + closedPort(t)
		_, err := provision.Run(testContext(t), provision.Options{URL: url, AdminEmail: "a@example.com", AdminPassword: "secret-pw-1"})
		assertErr(t, err, provision.ErrUnreachable, "cannot reach Directus at "+url, "secret-pw-1")
		if !errors.Is(err, directus.ErrUnreachable) {
			t.Errorf("not directus.ErrUnreachable: %v", err)
		}
	})
	t.Run("incompatible collection", func(t *testing.T) { testIncompatible(t, in) })
	t.Run("guide-made collection", func(t *testing.T) { testGuideMade(t, in, token) })
}

func assertErr(t *testing.T, err, want error, text, secret string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("error %q does not say %q", err, text)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q contains the secret", err)
	}
	t.Logf("error: %v", err)
}

// testIncompatible: a "messages" with an integer text and a row; setup fails
// with a clear error and touches nothing.
func testIncompatible(t *testing.T, in *dtest.Instance) {
	a := newAdmin(t, in)
	a.do(http.MethodPost, "/collections", map[string]any{"collection": "bad_messages", "schema": map[string]any{},
		"fields": []map[string]any{
			{"field": "id", "type": "integer", "schema": map[string]any{"is_primary_key": true, "has_auto_increment": true}},
			{"field": "text", "type": "integer", "schema": map[string]any{}},
		}}, nil)
	a.do(http.MethodPost, "/items/bad_messages", map[string]any{"text": 42}, nil)
	fieldsBefore, rowsBefore := collectionState(a, "bad_messages")

	_, _, err := setup(t, in, func(o *provision.Options) { o.Collection = "bad_messages" })
	assertErr(t, err, provision.ErrIncompatibleSchema, `field "text" has type "integer", want one of [text string]`, in.AdminPassword)
	for _, want := range []string{`"user_created" is missing`, `"date_created" is missing`, "never changes existing fields or data"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q", want)
		}
	}
	fieldsAfter, rowsAfter := collectionState(a, "bad_messages")
	if !reflect.DeepEqual(fieldsBefore, fieldsAfter) || !reflect.DeepEqual(rowsBefore, rowsAfter) {
		t.Errorf("collection changed:\n%v\n%v\n%v\n%v", fieldsBefore, fieldsAfter, rowsBefore, rowsAfter)
	}
	if !strings.Contains(string(rowsAfter), `"text":42`) {
		t.Errorf("row lost: %s", rowsAfter)
	}
}

// testGuideMade: a collection made as the guide says in the Data Studio
// (text as a 255-char "Input" string), with a row, gets the irc_* fields
// added, reported as changes, and keeps its row.
func testGuideMade(t *testing.T, in *dtest.Instance, token string) {
	a := newAdmin(t, in)
	a.do(http.MethodPost, "/collections", map[string]any{"collection": "guide_messages", "schema": map[string]any{},
		"meta": map[string]any{"singleton": false}, "fields": guideFieldsForTest()}, nil)
	a.do(http.MethodPost, "/relations", map[string]any{"collection": "guide_messages", "field": "user_created",
		"related_collection": "directus_users", "schema": map[string]any{}}, nil)
	a.do(http.MethodPost, "/fields/guide_messages", map[string]any{"field": "text", "type": "string", "meta": map[string]any{"interface": "input"}, "schema": map[string]any{}}, nil)
	a.do(http.MethodPost, "/items/guide_messages", map[string]any{"text": "older message"}, nil)
	_, rowsBefore := collectionState(a, "guide_messages")

	res, out, err := setup(t, in, func(o *provision.Options) { o.Collection, o.BridgeToken = "guide_messages", token })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("output:\n%s", out)
	want := []string{"added field guide_messages.irc_nick", "added field guide_messages.irc_key"}
	for _, w := range want {
		if !strings.Contains(strings.Join(res.Changed, "\n"), w) {
			t.Errorf("changes %q lack %q", res.Changed, w)
		}
	}
	_, rowsAfter := collectionState(a, "guide_messages")
	var before, after []map[string]any
	_ = json.Unmarshal(rowsBefore, &before)
	_ = json.Unmarshal(rowsAfter, &after)
	if len(after) != 1 || after[0]["text"] != "older message" || after[0]["irc_nick"] != nil || after[0]["id"] != before[0]["id"] {
		t.Errorf("row changed: %s → %s", rowsBefore, rowsAfter)
	}
}

func guideFieldsForTest() []map[string]any {
	return []map[string]any{
		{"field": "id", "type": "integer", "meta": map[string]any{"hidden": true}, "schema": map[string]any{"is_primary_key": true, "has_auto_increment": true}},
		{"field": "user_created", "type": "uuid", "meta": map[string]any{"special": []string{"user-created"}}, "schema": map[string]any{}},
		{"field": "date_created", "type": "timestamp", "meta": map[string]any{"special": []string{"date-created"}}, "schema": map[string]any{}},
	}
}

func collectionState(a admin, coll string) (fields, rows json.RawMessage) {
	a.do(http.MethodGet, "/fields/"+coll, nil, &fields)
	a.do(http.MethodGet, "/items/"+coll+"?sort=id", nil, &rows)
	return fields, rows
}
