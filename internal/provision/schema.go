package provision

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/directus-ircd/directus-ircd/directus"
)

// field is the part of a GET /fields answer the checks need.
type field struct {
	Field string `json:"field"`
	Type  string `json:"type"`
	Meta  *struct {
		Special []string `json:"special"`
	} `json:"meta"`
	Schema *struct {
		IsPrimaryKey     bool `json:"is_primary_key"`
		HasAutoIncrement bool `json:"has_auto_increment"`
		IsNullable       bool `json:"is_nullable"`
	} `json:"schema"`
}

func (f field) special(s string) bool { return f.Meta != nil && slices.Contains(f.Meta.Special, s) }

// guideFields are the collection as the chat guide's Data Studio steps create
// it (docs/DIRECTUS-PROTOCOL.md §8.1).
var guideFields = []map[string]any{
	{"field": "id", "type": "integer", "meta": map[string]any{"hidden": true, "interface": "input", "readonly": true},
		"schema": map[string]any{"is_primary_key": true, "has_auto_increment": true}},
	{"field": "user_created", "type": "uuid", "meta": map[string]any{"special": []string{"user-created"},
		"interface": "select-dropdown-m2o", "options": map[string]any{"template": "{{avatar}} {{first_name}} {{last_name}}"},
		"display": "user", "readonly": true, "hidden": true, "width": "half"}, "schema": map[string]any{}},
	{"field": "date_created", "type": "timestamp", "meta": map[string]any{"special": []string{"date-created"},
		"interface": "datetime", "readonly": true, "hidden": true, "width": "half", "display": "datetime",
		"display_options": map[string]any{"relative": true}}, "schema": map[string]any{}},
}

// addedField is a nullable field setup adds when it is missing.
type addedField struct {
	name  string
	types []string // acceptable existing types
	def   map[string]any
}

var addedFields = []addedField{
	{"text", []string{"text", "string"}, map[string]any{"field": "text", "type": "text",
		"meta": map[string]any{"interface": "input-multiline"}, "schema": map[string]any{}}},
	{"irc_nick", []string{"string", "text"}, map[string]any{"field": "irc_nick", "type": "string",
		"meta":   map[string]any{"interface": "input", "note": "IRC nick of a guest (posts by the directus-ircd bridge user)"},
		"schema": map[string]any{"is_nullable": true}}},
	{"irc_key", []string{"string", "text"}, map[string]any{"field": "irc_key", "type": "string",
		"meta":   map[string]any{"interface": "input", "hidden": true, "note": "directus-ircd idempotency key"},
		"schema": map[string]any{"is_nullable": true, "is_unique": true}}},
}

func (r *run) ensureCollection() error {
	coll := r.o.Collection
	exists, err := r.collectionExists()
	if err != nil {
		return err
	}
	if !exists {
		body := map[string]any{"collection": coll, "schema": map[string]any{},
			"meta": map[string]any{"singleton": false}, "fields": guideFields}
		if err := r.do(http.MethodPost, "/collections", body, nil); err != nil {
			return fmt.Errorf("create collection %s: %w", coll, err)
		}
		r.changed("created collection %s (id, user_created, date_created)", coll)
	} else if err := r.checkCollection(); err != nil {
		return err
	}
	if err := r.ensureRelation(!exists); err != nil {
		return err
	}
	return r.ensureAddedFields()
}

// collectionExists: GET /collections/<c> answers 403, not 404, for a
// collection that does not exist, even to an admin.
func (r *run) collectionExists() (bool, error) {
	var c struct {
		Schema map[string]any `json:"schema"`
	}
	err := r.do(http.MethodGet, "/collections/"+url.PathEscape(r.o.Collection), nil, &c)
	if errors.Is(err, directus.ErrForbidden) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up collection %s: %w", r.o.Collection, err)
	}
	if c.Schema == nil {
		return true, &SchemaError{r.o.Collection, []string{"it is a folder without a database table"}}
	}
	return true, nil
}

func (r *run) fields() (map[string]field, error) {
	var list []field
	if err := r.do(http.MethodGet, "/fields/"+url.PathEscape(r.o.Collection), nil, &list); err != nil {
		return nil, fmt.Errorf("read fields of %s: %w", r.o.Collection, err)
	}
	m := make(map[string]field, len(list))
	for _, f := range list {
		m[f.Field] = f
	}
	return m, nil
}

// checkCollection lists everything that makes an existing collection unusable.
func (r *run) checkCollection() error {
	fields, err := r.fields()
	if err != nil {
		return err
	}
	var problems []string
	problems = append(problems, checkID(fields)...)
	for name, special := range map[string]string{"user_created": "user-created", "date_created": "date-created"} {
		f, ok := fields[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("field %q is missing (enable it as an optional system field)", name))
		case !f.special(special):
			problems = append(problems, fmt.Sprintf("field %q lacks the %q special (it must be the system field that Directus fills in)", name, special))
		}
	}
	for _, a := range addedFields {
		if f, ok := fields[a.name]; ok && !slices.Contains(a.types, f.Type) {
			problems = append(problems, fmt.Sprintf("field %q has type %q, want one of %v", a.name, f.Type, a.types))
		}
	}
	slices.Sort(problems)
	if len(problems) > 0 {
		return &SchemaError{Collection: r.o.Collection, Problems: problems}
	}
	r.ok("collection %s has a compatible shape", r.o.Collection)
	return nil
}

// checkID: the bridge back-fills by "id greater than the last seen", so the
// primary key must be an auto-increment integer.
func checkID(fields map[string]field) []string {
	f, ok := fields["id"]
	switch {
	case !ok || f.Schema == nil || !f.Schema.IsPrimaryKey:
		return []string{`field "id" must be the primary key`}
	case (f.Type != "integer" && f.Type != "bigInteger") || !f.Schema.HasAutoIncrement:
		return []string{fmt.Sprintf(`field "id" is %q, want an auto-increment integer primary key`, f.Type)}
	}
	return nil
}

func (r *run) ensureAddedFields() error {
	fields, err := r.fields()
	if err != nil {
		return err
	}
	for _, a := range addedFields {
		if _, ok := fields[a.name]; ok {
			r.ok("field %s.%s", r.o.Collection, a.name)
			continue
		}
		if err := r.do(http.MethodPost, "/fields/"+url.PathEscape(r.o.Collection), a.def, nil); err != nil {
			return fmt.Errorf("add field %s.%s: %w", r.o.Collection, a.name, err)
		}
		r.changed("added field %s.%s (%s, nullable)", r.o.Collection, a.name, a.def["type"])
	}
	return nil
}

// ensureRelation makes user_created an M2O to directus_users, which
// user_created.first_name needs. On an existing collection the relation is
// added without a foreign key constraint so that the table is not touched.
func (r *run) ensureRelation(fresh bool) error {
	path := "/relations/" + url.PathEscape(r.o.Collection) + "/user_created"
	var rel struct {
		Related string `json:"related_collection"`
	}
	err := r.do(http.MethodGet, path, nil, &rel)
	switch {
	case err == nil && rel.Related == "directus_users":
		r.ok("relation %s.user_created → directus_users", r.o.Collection)
		return nil
	case err == nil:
		return &SchemaError{r.o.Collection, []string{fmt.Sprintf(`field "user_created" relates to %q, want directus_users`, rel.Related)}}
	case !errors.Is(err, directus.ErrForbidden): // a missing relation reads as 403
		return fmt.Errorf("look up relation %s.user_created: %w", r.o.Collection, err)
	}
	var schema any // nil: metadata only
	if fresh {
		schema = map[string]any{}
	}
	body := map[string]any{"collection": r.o.Collection, "field": "user_created", "related_collection": "directus_users", "schema": schema}
	if err := r.do(http.MethodPost, "/relations", body, nil); err != nil {
		return fmt.Errorf("create relation %s.user_created: %w", r.o.Collection, err)
	}
	r.changed("created relation %s.user_created → directus_users", r.o.Collection)
	return nil
}
