package bridge

import "github.com/directus-ircd/directus-ircd/ircd"

// CheckNick implements ircd.NickChecker: a guest may not take a Directus user's nick. With a
// guest suffix that cannot happen (account nicks have no '|'); with login.guest_suffix empty
// it would let a guest pass for a user, and keep that user from connecting (their nick is
// forced and would be taken).
func (b *Bridge) CheckNick(c *ircd.Client, nick string) error {
	if a := acctOf(c); a == nil || !a.guest || !b.dir.nickTaken(nick) {
		return nil
	}
	return &ircd.UserError{Text: "That nick belongs to a Directus user; pick another"}
}
