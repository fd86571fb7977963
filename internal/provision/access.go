package provision

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
)

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

// ensureNamed finds a row by name or creates it with body; returns its id.
func (r *run) ensureNamed(endpoint, kind string, body map[string]any) (string, error) {
	var row struct {
		ID string `json:"id"`
	}
	name := body["name"]
	found, err := r.find(endpoint, map[string]any{"name": eq(name)}, "id", &row)
	if err != nil || found {
		if found {
			r.ok("%s %q", kind, name)
		}
		return row.ID, err
	}
	if err := r.do(http.MethodPost, endpoint, body, &row); err != nil {
		return "", fmt.Errorf("create %s %q: %w", kind, name, err)
	}
	r.changed("created %s %q", kind, name)
	return row.ID, nil
}

// permission is one (collection, action) the Users policy grants, all fields
// (custom field lists are a licensed feature in Directus 12).
type permission struct{ collection, action string }

func (r *run) permissions() []permission {
	return []permission{{r.o.Collection, "create"}, {r.o.Collection, "read"}, {"directus_users", "read"}}
}

func (r *run) ensureAccess() error {
	var err error
	policy := map[string]any{"name": r.o.RoleName, "icon": "badge", "admin_access": false, "app_access": false}
	if r.res.PolicyID, err = r.ensureNamed("/policies", "policy", policy); err != nil {
		return err
	}
	for _, p := range r.permissions() {
		if err := r.ensurePermission(p); err != nil {
			return err
		}
	}
	role := map[string]any{"name": r.o.RoleName, "icon": "supervised_user_circle"}
	if r.res.RoleID, err = r.ensureNamed("/roles", "role", role); err != nil {
		return err
	}
	return r.ensureAccessLink()
}

func (r *run) ensurePermission(p permission) error {
	var row struct {
		ID     int      `json:"id"`
		Fields []string `json:"fields"`
	}
	filter := map[string]any{"policy": eq(r.res.PolicyID), "collection": eq(p.collection), "action": eq(p.action)}
	found, err := r.find("/permissions", filter, "id,fields", &row)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("permission %s on %s for policy %q", p.action, p.collection, r.o.RoleName)
	switch {
	case found && slices.Contains(row.Fields, "*"):
		r.ok("%s", what)
		return nil
	case found:
		if err := r.do(http.MethodPatch, fmt.Sprintf("/permissions/%d", row.ID), map[string]any{"fields": []string{"*"}}, nil); err != nil {
			return fmt.Errorf("widen %s to all fields: %w", what, err)
		}
		r.changed("%s now covers all fields", what)
		return nil
	}
	body := map[string]any{"policy": r.res.PolicyID, "collection": p.collection, "action": p.action,
		"fields": []string{"*"}, "permissions": map[string]any{}, "validation": map[string]any{}, "presets": nil}
	if err := r.do(http.MethodPost, "/permissions", body, nil); err != nil {
		return fmt.Errorf("create %s: %w", what, err)
	}
	r.changed("created %s", what)
	return nil
}

func (r *run) ensureAccessLink() error {
	var row struct {
		ID string `json:"id"`
	}
	link := map[string]any{"role": r.res.RoleID, "policy": r.res.PolicyID}
	found, err := r.find("/access", map[string]any{"role": eq(r.res.RoleID), "policy": eq(r.res.PolicyID)}, "id", &row)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("access link role %q → policy %q", r.o.RoleName, r.o.RoleName)
	if found {
		r.ok("%s", what)
		return nil
	}
	if err := r.do(http.MethodPost, "/access", link, nil); err != nil {
		return fmt.Errorf("create %s: %w", what, err)
	}
	r.changed("created %s", what)
	return nil
}
