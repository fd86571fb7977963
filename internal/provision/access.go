package provision

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// marker is in the description of every role and policy setup creates: it
// tells them apart from an unrelated one of the same name on a later run.
const marker = "created by directus-ircd setup"

// find reads the first row of a system collection endpoint (e.g. "/roles")
// matching filter into out, and reports whether there was one.
func (r *run) find(endpoint string, filter map[string]any, fields string, out any) (bool, error) {
	f, err := json.Marshal(filter)
	if err != nil {
		return false, err
	}
	q := url.Values{"filter": {string(f)}, "fields": {fields}, "limit": {"1"}, "sort": {"id"}}
	var rows []json.RawMessage
	if err := r.do(http.MethodGet, endpoint+"?"+q.Encode(), nil, &rows); err != nil {
		return false, fmt.Errorf("look up %s: %w", endpoint, err)
	}
	if len(rows) == 0 {
		return false, nil
	}
	return true, json.Unmarshal(rows[0], out)
}

func eq(v any) map[string]any { return map[string]any{"_eq": v} }

// permission is one (collection, action) a policy grants, all fields:
// anything narrower (field lists, item rules) is a licensed feature in
// Directus 12 ("custom_permission_rules_enabled is a restricted resource").
type permission struct{ collection, action string }

// access is a role with its one policy, as setup wants them.
type access struct {
	who                  string // "chat users", "the bridge"
	role, policy         string // names
	roleFlag, policyFlag string // the flags that name them ("" for none)
	explicitRole         bool   // named by the admin: an existing one is reused
	explicitPolicy       bool
	description          string
	grant                []permission
	revoke               []permission // removed if present (a narrower choice than before)
}

func (r *run) ensureChatAccess() error {
	a := access{who: "chat users", role: r.chatRole(), policy: r.o.PolicyName, roleFlag: "-role", policyFlag: "-policy",
		explicitRole: r.o.RoleName != "", explicitPolicy: r.o.PolicyName != "",
		description: "directus-ircd chat users: post and read " + r.o.Collection + " (" + marker + ")",
		grant:       []permission{{r.o.Collection, "create"}, {r.o.Collection, "read"}}}
	if a.policy == "" {
		a.policy = DefaultPolicyName
	}
	if r.o.AllowRedact {
		a.grant = append(a.grant, permission{r.o.Collection, "delete"})
	}
	users := permission{"directus_users", "read"}
	if r.o.UserRead == UserReadAll {
		a.grant = append(a.grant, users)
	} else {
		// Not even their own profile: an own-row rule needs a license, and
		// app access (whose minimal permissions include it) costs one of the
		// 3 seats of an unlicensed Directus 12 per user. /users/me then
		// answers only the id.
		a.revoke = []permission{users}
	}
	var err error
	r.res.RoleID, r.res.PolicyID, err = r.ensureAccess(a)
	if err == nil && r.o.UserRead == UserReadAll {
		r.printf("note: chat users can read every Directus user's profile (email, status, last access, role; " +
			"not passwords or tokens) so that web pages can show authors' names: Directus 12 without a license " +
			"cannot limit this to names (use -user-read own to hide other users' profiles)")
	}
	if err == nil && r.o.AllowRedact {
		r.printf("note: chat users may delete messages (-allow-redact): IRC lets them delete only their own, " +
			"but Directus 12 without a license cannot, so through the REST API any chat user can delete anyone's message")
	}
	return err
}

// ensureBridgeAccess: the bridge reads and creates items (guest posts, with
// irc_nick and irc_key) and reads users' id, email, first_name and status.
func (r *run) ensureBridgeAccess() error {
	a := access{who: "the bridge", role: BridgeRoleName, policy: BridgeRoleName,
		description: "directus-ircd bridge service user: read and create " + r.o.Collection + ", read users (" + marker + ")",
		grant:       []permission{{r.o.Collection, "create"}, {r.o.Collection, "read"}, {"directus_users", "read"}}}
	var err error
	r.res.BridgeRoleID, r.res.BridgePolicyID, err = r.ensureAccess(a)
	return err
}

func (r *run) ensureAccess(a access) (roleID, policyID string, err error) {
	if policyID, err = r.ensurePolicy(a); err != nil {
		return "", "", err
	}
	for _, p := range a.grant {
		if err := r.ensurePermission(policyID, a.policy, p); err != nil {
			return "", "", err
		}
	}
	for _, p := range a.revoke {
		if err := r.revokePermission(policyID, a.policy, p); err != nil {
			return "", "", err
		}
	}
	if roleID, err = r.ensureRole(a); err != nil {
		return "", "", err
	}
	return roleID, policyID, r.ensureAccessLink(roleID, policyID, a)
}

// namedRow is a role or policy as ensureNamed needs it.
type namedRow struct {
	ID          string  `json:"id"`
	Description *string `json:"description"`
	AdminAccess bool    `json:"admin_access"`
}

func (n namedRow) ours() bool {
	return n.Description != nil && strings.Contains(*n.Description, marker)
}

// ensureNamed finds a role or policy by name or creates it with body. One
// that setup did not create is used only when explicit (and said so).
func (r *run) ensureNamed(endpoint, kind, flag string, explicit bool, fields string, body map[string]any) (namedRow, error) {
	var row namedRow
	name := body["name"].(string)
	found, err := r.find(endpoint, map[string]any{"name": eq(name)}, fields, &row)
	switch {
	case err != nil:
		return row, err
	case found && row.ours():
		r.ok("%s %q", kind, name)
		return row, nil
	case found && explicit:
		r.printf("using the existing %s %q (named by %s)", kind, name, flag)
		return row, nil
	case found:
		return row, &NameTakenError{Kind: kind, Name: name, Flag: flag}
	}
	if err := r.do(http.MethodPost, endpoint, body, &row); err != nil {
		return row, fmt.Errorf("create %s %q: %w", kind, name, err)
	}
	r.changed("created %s %q", kind, name)
	return row, nil
}

func (r *run) ensurePolicy(a access) (string, error) {
	body := map[string]any{"name": a.policy, "icon": "badge", "description": a.description,
		"admin_access": false, "app_access": false}
	p, err := r.ensureNamed("/policies", "policy", a.policyFlag, a.explicitPolicy, "id,description,admin_access", body)
	if err != nil {
		return "", err
	}
	if p.AdminAccess {
		return "", fmt.Errorf("policy %q grants admin access: setup will not give it to %s; name another policy", a.policy, a.who)
	}
	return p.ID, nil
}

func (r *run) ensureRole(a access) (string, error) {
	body := map[string]any{"name": a.role, "icon": "supervised_user_circle", "description": a.description}
	role, err := r.ensureNamed("/roles", "role", a.roleFlag, a.explicitRole, "id,description", body)
	if err != nil {
		return "", err
	}
	if role.ours() {
		return role.ID, nil
	}
	// An existing role: refuse one whose policies make its users admins.
	var link struct {
		ID string `json:"id"`
	}
	filter := map[string]any{"role": eq(role.ID), "policy": map[string]any{"admin_access": eq(true)}}
	admin, err := r.find("/access", filter, "id", &link)
	if err != nil {
		return "", err
	}
	if admin {
		return "", fmt.Errorf("role %q has a policy with admin access: setup will not put %s in it; name another role", a.role, a.who)
	}
	return role.ID, nil
}

func (r *run) findPermission(policyID string, p permission) (id int, fields []string, found bool, err error) {
	var row struct {
		ID     int      `json:"id"`
		Fields []string `json:"fields"`
	}
	filter := map[string]any{"policy": eq(policyID), "collection": eq(p.collection), "action": eq(p.action)}
	found, err = r.find("/permissions", filter, "id,fields", &row)
	return row.ID, row.Fields, found, err
}

func (r *run) ensurePermission(policyID, policy string, p permission) error {
	id, fields, found, err := r.findPermission(policyID, p)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("permission %s on %s for policy %q", p.action, p.collection, policy)
	switch {
	case found && slices.Contains(fields, "*"):
		r.ok("%s", what)
		return nil
	case found && len(fields) > 0:
		// A narrower list is an admin's choice (field lists need a license
		// in Directus 12): keep it, but say so, since it may hide fields the
		// daemon or the chat pages read.
		r.printf("note: %s is limited to the fields %s: kept as it is", what, strings.Join(fields, ","))
		return nil
	case found:
		if err := r.do(http.MethodPatch, fmt.Sprintf("/permissions/%d", id), map[string]any{"fields": []string{"*"}}, nil); err != nil {
			return fmt.Errorf("give %s its fields: %w", what, err)
		}
		r.changed("%s now covers all fields (it had none)", what)
		return nil
	}
	body := map[string]any{"policy": policyID, "collection": p.collection, "action": p.action,
		"fields": []string{"*"}, "permissions": map[string]any{}, "validation": map[string]any{}, "presets": nil}
	if err := r.do(http.MethodPost, "/permissions", body, nil); err != nil {
		return fmt.Errorf("create %s: %w", what, err)
	}
	r.changed("created %s", what)
	return nil
}

func (r *run) revokePermission(policyID, policy string, p permission) error {
	id, _, found, err := r.findPermission(policyID, p)
	if err != nil || !found {
		return err
	}
	what := fmt.Sprintf("permission %s on %s for policy %q", p.action, p.collection, policy)
	if err := r.do(http.MethodDelete, fmt.Sprintf("/permissions/%d", id), nil, nil); err != nil {
		return fmt.Errorf("remove %s: %w", what, err)
	}
	r.changed("removed %s", what)
	return nil
}

func (r *run) ensureAccessLink(roleID, policyID string, a access) error {
	var row struct {
		ID string `json:"id"`
	}
	found, err := r.find("/access", map[string]any{"role": eq(roleID), "policy": eq(policyID)}, "id", &row)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("access link role %q → policy %q", a.role, a.policy)
	if found {
		r.ok("%s", what)
		return nil
	}
	if err := r.do(http.MethodPost, "/access", map[string]any{"role": roleID, "policy": policyID}, nil); err != nil {
		return fmt.Errorf("create %s: %w", what, err)
	}
	r.changed("created %s", what)
	return nil
}
