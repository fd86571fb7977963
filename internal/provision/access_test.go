package provision_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/internal/dtest"
	"github.com/directus-ircd/directus-ircd/internal/provision"
)

// bridgeItemFields is what the bridge reads of each message (bridge/item.go).
var bridgeItemFields = []string{"id", "text", "date_created", "irc_nick", "irc_key", "user_created"}

// assertBridgeToken checks that token does everything the bridge does with
// it: /users/me, the user sweep (id, email, first_name, status of everyone),
// a guest post with irc_nick and irc_key, reading it back by irc_key, and a
// WebSocket subscription with the bridge's fields that delivers it.
func assertBridgeToken(t *testing.T, in *dtest.Instance, token, bridgeID string) {
	t.Helper()
	c := newAdmin(t, in).c
	ctx := testContext(t)
	me, err := c.Me(ctx, token)
	if err != nil || me.ID != bridgeID || me.Email != provision.DefaultBridgeEmail || me.Status != "active" {
		t.Fatalf("bridge /users/me: %v %+v", err, me)
	}
	var users []directus.User
	if err := c.Do(ctx, token, http.MethodGet, "/users?fields=id,email,first_name,status&limit=-1", nil, &users); err != nil {
		t.Fatalf("bridge user sweep: %v", err)
	}
	if !slices.ContainsFunc(users, func(u directus.User) bool {
		return u.Email == dtest.AliceEmail && u.FirstName == "Alice" && u.Status == "active" && u.ID != ""
	}) {
		t.Fatalf("bridge user sweep lacks alice: %+v", users)
	}
	ws, err := c.Dial(ctx, directus.Credentials{StaticToken: token})
	if err != nil {
		t.Fatalf("bridge websocket: %v", err)
	}
	defer ws.Close()
	zero := 0
	sub, err := ws.Subscribe(ctx, "messages", directus.Query{Fields: bridgeItemFields, Limit: &zero})
	if err != nil {
		t.Fatalf("bridge subscribe: %v", err)
	}
	if e := <-sub.Events(); e.Kind != directus.EventInit {
		t.Fatalf("bridge subscription: first event %v", e.Kind)
	}
	key := fmt.Sprintf("provision-test-%d", time.Now().UnixNano())
	data := map[string]any{"text": "guest post", "irc_nick": "guest_1", "irc_key": key}
	if _, err := c.CreateItem(ctx, token, "messages", data, bridgeItemFields); err != nil {
		t.Fatalf("bridge guest post: %v", err)
	}
	rows, err := c.ReadItems(ctx, token, "messages", directus.Query{Fields: bridgeItemFields, Filter: map[string]any{"irc_key": map[string]any{"_eq": key}}})
	if err != nil || len(rows) != 1 || !strings.Contains(string(rows[0]), `"irc_nick":"guest_1"`) {
		t.Fatalf("bridge read by irc_key: %v %s", err, rows)
	}
	select {
	case e := <-sub.Events():
		if e.Kind != directus.EventCreate || len(e.Items) != 1 || !strings.Contains(string(e.Items[0]), key) {
			t.Fatalf("bridge subscription: %v %s", e.Kind, e.Items)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("bridge subscription: no create event")
	}
}

// permissionsOf lists a policy's permissions as "collection action fields".
func permissionsOf(a admin, policyID string) []string {
	var rows []struct {
		Collection string   `json:"collection"`
		Action     string   `json:"action"`
		Fields     []string `json:"fields"`
	}
	f, _ := json.Marshal(map[string]any{"policy": map[string]any{"_eq": policyID}})
	a.do(http.MethodGet, "/permissions?limit=-1&fields=collection,action,fields&filter="+url.QueryEscape(string(f)), nil, &rows)
	var out []string
	for _, r := range rows {
		out = append(out, r.Collection+" "+r.Action+" "+strings.Join(r.Fields, ","))
	}
	slices.Sort(out)
	return out
}

type userInfo struct {
	ID    string `json:"id"`
	Role  string `json:"role"`
	Email string `json:"email"`
}

func (a admin) user(email string) userInfo {
	a.t.Helper()
	var rows []userInfo
	f, _ := json.Marshal(map[string]any{"email": map[string]any{"_eq": email}})
	a.do(http.MethodGet, "/users?fields=id,role,email&filter="+url.QueryEscape(string(f)), nil, &rows)
	if len(rows) != 1 {
		a.t.Fatalf("user %s: %v", email, rows)
	}
	return rows[0]
}

// login returns a chat user's access token.
func login(t *testing.T, in *dtest.Instance, email, password string) string {
	t.Helper()
	tok, err := newAdmin(t, in).c.Login(testContext(t), email, password)
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	return tok.Access
}

// testLeastPrivilege: the bridge user has its own role and policy holding
// only what the bridge uses; chat users have theirs, with create and read on
// messages and (in the default mode) read on directus_users, nothing else.
func testLeastPrivilege(t *testing.T, in *dtest.Instance, res provision.Result) {
	a := newAdmin(t, in)
	if got := a.user(provision.DefaultBridgeEmail).Role; got != res.BridgeRoleID || got == res.RoleID {
		t.Errorf("bridge user's role %s, want its own %s (chat users: %s)", got, res.BridgeRoleID, res.RoleID)
	}
	if got := a.user(dtest.AliceEmail).Role; got != res.RoleID {
		t.Errorf("alice's role %s, want %s", got, res.RoleID)
	}
	want := []string{"directus_users read *", "messages create *", "messages read *"}
	if got := permissionsOf(a, res.BridgePolicyID); !reflect.DeepEqual(got, want) {
		t.Errorf("bridge policy grants %q, want %q", got, want)
	}
	if got := permissionsOf(a, res.PolicyID); !reflect.DeepEqual(got, want) {
		t.Errorf("chat policy grants %q, want %q", got, want)
	}
	for _, p := range []struct{ id, name string }{{res.BridgePolicyID, provision.BridgeRoleName}, {res.PolicyID, provision.DefaultPolicyName}} {
		var pol struct {
			Name        string `json:"name"`
			AdminAccess bool   `json:"admin_access"`
			AppAccess   bool   `json:"app_access"`
		}
		a.do(http.MethodGet, "/policies/"+p.id+"?fields=name,admin_access,app_access", nil, &pol)
		if pol.Name != p.name || pol.AdminAccess || pol.AppAccess {
			t.Errorf("policy %s: %+v", p.id, pol)
		}
	}
	for role, policy := range map[string]string{res.BridgeRoleID: res.BridgePolicyID, res.RoleID: res.PolicyID} {
		var links []struct {
			Policy string `json:"policy"`
		}
		a.do(http.MethodGet, "/access?fields=policy&filter[role][_eq]="+role, nil, &links)
		if len(links) != 1 || links[0].Policy != policy {
			t.Errorf("role %s has policies %+v, want only %s", role, links, policy)
		}
	}

	// A chat user may create and read, not edit or delete, and (documented
	// in the README: Directus 12 without a license cannot limit fields) reads
	// other users' profiles whole, which is what shows names on web pages.
	alice := login(t, in, dtest.AliceEmail, dtest.AlicePassword)
	ctx := testContext(t)
	item, err := a.c.CreateItem(ctx, alice, "messages", map[string]any{"text": "mine"}, []string{"id"})
	if err != nil {
		t.Fatalf("alice create: %v", err)
	}
	id, _ := directus.ItemID(item)
	for _, m := range []string{http.MethodPatch, http.MethodDelete} {
		if err := a.c.Do(ctx, alice, m, "/items/messages/"+id, map[string]any{"text": "x"}, nil); !errors.Is(err, directus.ErrForbidden) {
			t.Errorf("alice %s on her item: %v, want forbidden", m, err)
		}
	}
	var bob []struct {
		FirstName string `json:"first_name"`
		Email     string `json:"email"`
	}
	if err := a.c.Do(ctx, alice, http.MethodGet, "/users?fields=first_name,email&filter[email][_eq]="+dtest.BobEmail, nil, &bob); err != nil ||
		len(bob) != 1 || bob[0].FirstName != "Bob" || bob[0].Email != dtest.BobEmail {
		t.Errorf("alice reading bob with -user-read all: %v %+v (the README documents that she can)", err, bob)
	}
	assertBridgeToken(t, in, res.BridgeToken, res.BridgeUserID)
}

// testUserReadOwn: with -user-read own, a chat user reads no profile: not
// other users' email, status or last access, and of their own only the id
// (/users/me); messages show other authors as ids. Switching back restores
// names.
func testUserReadOwn(t *testing.T, in *dtest.Instance, token string) {
	res, out, err := setup(t, in, func(o *provision.Options) { o.BridgeToken, o.UserRead = token, provision.UserReadOwn })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("output:\n%s", out)
	if len(res.Changed) != 1 || res.Changed[0] != `removed permission read on directus_users for policy "Chat Users"` {
		t.Errorf("changes %q", res.Changed)
	}
	a := newAdmin(t, in)
	ctx := testContext(t)
	alice := login(t, in, dtest.AliceEmail, dtest.AlicePassword)
	bobID := a.user(dtest.BobEmail).ID
	var rows []map[string]any
	if err := a.c.Do(ctx, alice, http.MethodGet, "/users?fields=id,email,status,last_access&limit=-1", nil, &rows); !errors.Is(err, directus.ErrForbidden) {
		t.Errorf("alice lists users: %v %v, want forbidden", err, rows)
	}
	for _, f := range []string{"email", "status", "last_access", "first_name"} {
		var u map[string]any
		if err := a.c.Do(ctx, alice, http.MethodGet, "/users/"+bobID+"?fields="+f, nil, &u); !errors.Is(err, directus.ErrForbidden) {
			t.Errorf("alice reads bob's %s: %v %v", f, err, u)
		}
	}
	if me, err := a.c.Me(ctx, alice); err != nil || me != (directus.User{ID: a.user(dtest.AliceEmail).ID}) {
		t.Errorf("alice /users/me: %v %+v, want only her id", err, me)
	}
	if _, err := a.c.CreateItem(ctx, login(t, in, dtest.BobEmail, dtest.BobPassword), "messages", map[string]any{"text": "from bob"}, nil); err != nil {
		t.Fatal(err)
	}
	items, err := a.c.ReadItems(ctx, alice, "messages", directus.Query{Fields: []string{"*", "user_created.first_name"}, // the web page's
		Filter: map[string]any{"text": map[string]any{"_eq": "from bob"}}})
	if err != nil || len(items) != 1 || !strings.Contains(string(items[0]), `"user_created":"`+bobID+`"`) {
		t.Errorf("alice reads bob's message: %v %s, want user_created as a bare id", err, items)
	}
	assertBridgeToken(t, in, token, res.BridgeUserID)

	res, _, err = setup(t, in, func(o *provision.Options) { o.BridgeToken = token })
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != 1 || res.Changed[0] != `created permission read on directus_users for policy "Chat Users"` {
		t.Errorf("back to all: changes %q", res.Changed)
	}
	items, err = a.c.ReadItems(ctx, alice, "messages", directus.Query{Fields: []string{"user_created.first_name"},
		Filter: map[string]any{"text": map[string]any{"_eq": "from bob"}}})
	if err != nil || len(items) != 1 || !strings.Contains(string(items[0]), `"first_name":"Bob"`) {
		t.Errorf("back to all: alice reads bob's message: %v %s", err, items)
	}
}

// TestUpgradeFromSharedRole: a Directus set up by an older setup (bridge user
// in the chat users' "Users" role and policy) is migrated by re-running
// setup: the bridge user moves to its own role, its token is kept, and the
// "Users" role, policy and their users are not touched. An existing policy of
// the default name is taken over only when named explicitly.
func TestUpgradeFromSharedRole(t *testing.T) {
	in := dtest.Start(t, dtest.Options{})
	a := newAdmin(t, in)
	var pol, role, rival struct {
		ID string `json:"id"`
	}
	a.do(http.MethodPost, "/policies", map[string]any{"name": "Users", "icon": "badge", "admin_access": false, "app_access": false}, &pol)
	a.do(http.MethodPost, "/permissions", []map[string]any{
		{"policy": pol.ID, "collection": "directus_users", "action": "read", "fields": []string{"*"}, "permissions": map[string]any{}, "validation": map[string]any{}},
		{"policy": pol.ID, "collection": "directus_files", "action": "read", "fields": []string{"*"}, "permissions": map[string]any{}, "validation": map[string]any{}},
	}, nil)
	a.do(http.MethodPost, "/roles", map[string]any{"name": "Users", "policies": []map[string]any{{"policy": pol.ID}}}, &role)
	const oldToken = "old-setup-bridge-token-0123456789abcdefghij"
	a.do(http.MethodPost, "/users", map[string]any{"email": provision.DefaultBridgeEmail, "first_name": "IRC", "role": role.ID,
		"status": "active", "token": oldToken}, nil)
	a.do(http.MethodPost, "/users", map[string]any{"email": "dave@example.com", "first_name": "Dave", "password": "davepass",
		"role": role.ID, "status": "active"}, nil)
	a.do(http.MethodPost, "/policies", map[string]any{"name": provision.DefaultPolicyName, "description": "someone else's"}, &rival)
	snapshot := func() map[string]any {
		d := map[string]any{}
		// Rows with their own fields; their lists of links change when the
		// bridge user leaves the role and the named policy gets a role.
		const pf, rf = "?fields=id,name,description,icon,admin_access,app_access,enforce_tfa,ip_access", "?fields=id,name,description,icon,parent"
		for _, p := range []string{"/policies/" + pol.ID + pf, "/policies/" + rival.ID + pf, "/roles/" + role.ID + rf,
			"/permissions?limit=-1&filter[policy][_eq]=" + pol.ID, "/permissions?limit=-1&filter[policy][_eq]=" + rival.ID,
			"/access?filter[role][_eq]=" + role.ID, "/users?fields=*&filter[email][_eq]=dave@example.com"} {
			var v any
			a.do(http.MethodGet, p, nil, &v)
			d[p] = v
		}
		return d
	}
	before := snapshot()

	_, _, err := setup(t, in, func(o *provision.Options) { o.BridgeToken = oldToken })
	assertErr(t, err, provision.ErrNameTaken, `a policy named "Chat Users" exists that directus-ircd setup did not create`, oldToken)
	if !strings.Contains(err.Error(), `-policy "Chat Users"`) {
		t.Errorf("error does not say how to use it anyway: %v", err)
	}
	if after := snapshot(); !reflect.DeepEqual(before, after) {
		t.Errorf("a refused setup touched existing roles, policies or users:\nbefore %v\nafter  %v", before, after)
	}

	// Named by flag, the existing policy is used, and setup says so; the old
	// "Users" role and policy stay as they are.
	res, out, err := setup(t, in, func(o *provision.Options) { o.BridgeToken, o.PolicyName = oldToken, provision.DefaultPolicyName })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("output:\n%s", out)
	if !strings.Contains(out, `using the existing policy "Chat Users" (named by -policy)`) {
		t.Errorf("output does not say it reuses the named policy")
	}
	if res.BridgeToken != oldToken || res.NewToken || res.PolicyID != rival.ID {
		t.Errorf("token kept %v, new %v, policy %s (want %s)", res.BridgeToken == oldToken, res.NewToken, res.PolicyID, rival.ID)
	}
	if !slices.Contains(res.Changed, fmt.Sprintf("user %s: moved to role %q", provision.DefaultBridgeEmail, provision.BridgeRoleName)) {
		t.Errorf("changes %q do not move the bridge user", res.Changed)
	}
	if got := a.user(provision.DefaultBridgeEmail).Role; got != res.BridgeRoleID {
		t.Errorf("bridge user in role %s, want %s", got, res.BridgeRoleID)
	}
	after := snapshot()
	delete(before, "/permissions?limit=-1&filter[policy][_eq]="+rival.ID) // named: given the chat permissions
	delete(after, "/permissions?limit=-1&filter[policy][_eq]="+rival.ID)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("setup touched the old Users role/policy or their users:\nbefore %v\nafter  %v", before, after)
	}
	assertBridgeToken(t, in, oldToken, res.BridgeUserID)

	res2, _, err := setup(t, in, func(o *provision.Options) { o.BridgeToken, o.PolicyName = oldToken, provision.DefaultPolicyName })
	if err != nil || len(res2.Changed) != 0 {
		t.Errorf("second run: %v, changed %q", err, res2.Changed)
	}
}

// TestWebSocketsDisabled: setup refuses a Directus without WebSockets,
// naming the setting, before it changes anything.
func TestWebSocketsDisabled(t *testing.T) {
	in := dtest.Start(t, dtest.Options{Env: map[string]string{"WEBSOCKETS_ENABLED": "false"}})
	_, _, err := setup(t, in, nil)
	assertErr(t, err, provision.ErrWebSocketsDisabled, "set WEBSOCKETS_ENABLED=true in Directus's environment", in.AdminPassword)
	var c any
	if err := newAdmin(t, in).c.Do(context.Background(), in.AdminToken(t), http.MethodGet, "/collections/messages", nil, &c); !errors.Is(err, directus.ErrForbidden) {
		t.Errorf("collection exists after a refused setup: %v", err)
	}
}
