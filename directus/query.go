package directus

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
)

// Query is a Directus query. Its JSON form is what the WebSocket API expects;
// values() is the REST form. Nil and empty fields are left out, so Directus
// applies its defaults (note: the default limit is QUERY_LIMIT_DEFAULT, 100).
// Limit -1 means "all", Limit 0 returns no rows (for a subscription: no
// history, events still flow). Use new(n) for the pointers.
type Query struct {
	Fields []string       `json:"fields,omitempty"`
	Filter map[string]any `json:"filter,omitempty"`
	Search string         `json:"search,omitempty"`
	Sort   []string       `json:"sort,omitempty"`
	Limit  *int           `json:"limit,omitempty"`
	Offset *int           `json:"offset,omitempty"`
	Page   *int           `json:"page,omitempty"`
	Meta   string         `json:"meta,omitempty"`
	Deep   map[string]any `json:"deep,omitempty"`
	// Aggregate, e.g. {"count": "*"}, makes a read return aggregates instead of items.
	Aggregate map[string]any `json:"aggregate,omitempty"`
}

// values encodes q as REST query parameters.
func (q Query) values() (url.Values, error) {
	v := url.Values{}
	if len(q.Fields) > 0 {
		v.Set("fields", strings.Join(q.Fields, ","))
	}
	if len(q.Sort) > 0 {
		v.Set("sort", strings.Join(q.Sort, ","))
	}
	for name, m := range map[string]map[string]any{"filter": q.Filter, "deep": q.Deep, "aggregate": q.Aggregate} {
		if len(m) == 0 {
			continue
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		v.Set(name, string(b))
	}
	setInt := func(name string, p *int) {
		if p != nil {
			v.Set(name, strconv.Itoa(*p))
		}
	}
	setInt("limit", q.Limit)
	setInt("offset", q.Offset)
	setInt("page", q.Page)
	if q.Search != "" {
		v.Set("search", q.Search)
	}
	if q.Meta != "" {
		v.Set("meta", q.Meta)
	}
	return v, nil
}
