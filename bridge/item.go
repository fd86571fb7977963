package bridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
)

// itemFields is what the bridge reads of each message, in the subscription, in create
// replies and in reads. The author is a bare id; names come from the bridge's user
// directory (see learnAuthors). Asking for user_created.first_name instead makes Directus run
// a second query for every event and every create reply (docs/PERFORMANCE.md has the cost).
var itemFields = []string{"id", "text", "date_created", "irc_nick", "irc_key", "user_created"}

// item is one row of the messages collection.
type item struct {
	ID      string
	Text    string
	Created time.Time
	IRCNick string // set on posts made for IRC guests
	IRCKey  string // idempotency key of creates made by the bridge
	Author  user   // zero when unknown
	// Notice is set on an item created from an IRC NOTICE, for its live fan-out only:
	// Directus does not store it, so the web page and the JOIN replay show a message.
	Notice bool
}

type rawItem struct {
	ID          json.RawMessage `json:"id"`
	Text        *string         `json:"text"`
	DateCreated *string         `json:"date_created"`
	IRCNick     *string         `json:"irc_nick"`
	IRCKey      *string         `json:"irc_key"`
	UserCreated json.RawMessage `json:"user_created"`
}

type rawUser struct {
	ID        string `json:"id"`
	FirstName string `json:"first_name"`
	Email     string `json:"email"`
}

// decodeItem reads a message as Directus sends it. user_created is an object, a bare UUID
// (no read permission on directus_users) or null (user deleted).
func decodeItem(raw json.RawMessage) (item, error) {
	var r rawItem
	if err := json.Unmarshal(raw, &r); err != nil {
		return item{}, fmt.Errorf("decode item: %w", err)
	}
	id, err := directus.NormaliseID(r.ID)
	if err != nil || id == "" {
		return item{}, fmt.Errorf("decode item: no usable id")
	}
	it := item{ID: id, Text: deref(r.Text), IRCNick: deref(r.IRCNick), IRCKey: deref(r.IRCKey)}
	if r.DateCreated != nil {
		if t, err := time.Parse(time.RFC3339Nano, *r.DateCreated); err == nil {
			it.Created = t
		}
	}
	if it.Created.IsZero() {
		it.Created = time.Now()
	}
	uc := bytes.TrimSpace(r.UserCreated)
	switch {
	case len(uc) > 0 && uc[0] == '{':
		var u rawUser
		if err := json.Unmarshal(uc, &u); err == nil {
			it.Author = user{ID: u.ID, FirstName: u.FirstName, Email: u.Email}
		}
	case len(uc) > 0 && uc[0] == '"':
		_ = json.Unmarshal(uc, &it.Author.ID)
	}
	return it, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// idLess orders numeric ids numerically and others as strings.
func idLess(a, b string) bool {
	if len(a) != len(b) && isDigits(a) && isDigits(b) {
		return len(a) < len(b)
	}
	return a < b
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
