package bridge

import (
	"sort"
	"strings"
	"sync"

	"github.com/directus-ircd/directus-ircd/ircd"
)

// user is what the bridge knows of a Directus user.
type user struct {
	ID        string
	Email     string
	FirstName string
	Status    string
}

// directory caches Directus users and gives each one nick, the same everywhere: the
// sanitised first name, or, when several users share it, the first name plus the start of
// the user id for every holder but one (see recompute).
type directory struct {
	emailDomain string

	mu     sync.RWMutex
	users  map[string]user   // by id
	nicks  map[string]string // id → nick
	byNick map[string]string // folded nick → id
}

func newDirectory(emailDomain string) *directory {
	return &directory{
		emailDomain: strings.ToLower(emailDomain),
		users:       map[string]user{},
		nicks:       map[string]string{},
		byNick:      map[string]string{},
	}
}

// replace sets the whole user list (from a full read) and recomputes nicks.
func (d *directory) replace(list []user) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.users = make(map[string]user, len(list))
	for _, u := range list {
		d.users[u.ID] = u
	}
	d.recompute()
}

// learn adds or updates one user (from a login or an event). It reports whether the user
// was new or changed.
func (d *directory) learn(u user) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	old, ok := d.users[u.ID]
	if u.Email == "" {
		u.Email = old.Email
	}
	if u.Status == "" {
		u.Status = old.Status
	}
	if u.FirstName == "" {
		u.FirstName = old.FirstName
	}
	if ok && old == u {
		return false
	}
	d.users[u.ID] = u
	d.recompute()
	return true
}

// recompute gives every user a nick. A user keeps the nick they have while their first name
// is unchanged, so a namesake who appears later never renames someone already on IRC;
// among users without a nick yet, the smallest id gets the plain name. A fresh directory
// (the daemon's start) therefore gives namesakes their nicks in id order.
func (d *directory) recompute() {
	ids := make([]string, 0, len(d.users))
	for id := range d.users {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	nicks := make(map[string]string, len(ids))
	byNick := make(map[string]string, len(ids))
	assign := func(id, nick string) {
		nicks[id], byNick[ircd.Casefold(nick)] = nick, id
	}
	free := func(nick string) bool {
		_, taken := byNick[ircd.Casefold(nick)]
		return !taken
	}
	base := func(id string) string {
		if b := sanitizeNick(d.users[id].FirstName); b != "" {
			return b
		}
		return fallbackNick(id)
	}
	for _, id := range ids {
		old, had := d.nicks[id]
		if had && (old == base(id) || old == base(id)+"-"+shortID(id)) && free(old) {
			assign(id, old)
		}
	}
	for _, id := range ids {
		if _, done := nicks[id]; done {
			continue
		}
		switch nick := base(id); {
		case free(nick):
			assign(id, nick)
		case free(nick + "-" + shortID(id)):
			assign(id, nick+"-"+shortID(id))
		default: // someone's first name is literally this suffixed form
			assign(id, nick+"-"+id)
		}
	}
	d.nicks, d.byNick = nicks, byNick
}

// nick is the user's nick; ok is false for an unknown user.
func (d *directory) nick(id string) (string, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	n, ok := d.nicks[id]
	return n, ok
}

// get returns a cached user.
func (d *directory) get(id string) (user, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	u, ok := d.users[id]
	return u, ok
}

// account is the account name shown on IRC: the local part for the configured email
// domain (alice@example.com → alice), otherwise the whole email.
func (d *directory) account(email string) string {
	email = strings.ToLower(email)
	if local, domain, ok := strings.Cut(email, "@"); ok && domain == d.emailDomain {
		return local
	}
	return email
}

// loginEmail turns a login name into an email: alice → alice@<email_domain>.
func (d *directory) loginEmail(name string) string {
	if strings.Contains(name, "@") {
		return name
	}
	return name + "@" + d.emailDomain
}

// nickTaken reports whether nick is a user's nick (compared as the server folds nicks).
func (d *directory) nickTaken(nick string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	_, ok := d.byNick[ircd.Casefold(nick)]
	return ok
}
