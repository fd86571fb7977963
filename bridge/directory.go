package bridge

import (
	"sort"
	"strings"
	"sync"
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
// the user id for every holder but the one with the smallest id. Nicks are a function of
// the user set, so they are stable across restarts.
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
	if ok && old == u {
		return false
	}
	d.users[u.ID] = u
	d.recompute()
	return true
}

func (d *directory) recompute() {
	groups := map[string][]string{}
	for id, u := range d.users {
		base := sanitizeNick(u.FirstName)
		if base == "" {
			base = fallbackNick(id)
		}
		groups[foldNick(base)] = append(groups[foldNick(base)], id)
	}
	d.nicks = make(map[string]string, len(d.users))
	d.byNick = make(map[string]string, len(d.users))
	for _, ids := range groups {
		sort.Strings(ids)
		for i, id := range ids {
			base := sanitizeNick(d.users[id].FirstName)
			if base == "" {
				base = fallbackNick(id)
			}
			nick := base
			if i > 0 {
				nick = base + "-" + shortID(id)
			}
			d.nicks[id] = nick
			d.byNick[foldNick(nick)] = id
		}
	}
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
