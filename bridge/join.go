package bridge

import (
	"context"

	"github.com/directus-ircd/directus-ircd/ircd"
)

// Join implements ircd.Backend. Read permission on the collection was checked once at login
// (one read of a single id with the user's token); a user without it cannot join. The replay
// is ircd's copy of the newest messages, so a JOIN costs Directus nothing.
func (b *Bridge) Join(ctx context.Context, c *ircd.Client) error {
	a := acctOf(c)
	if a == nil {
		return &ircd.UserError{Text: "Not logged in"}
	}
	if !a.canRead {
		return &ircd.UserError{Text: "Your Directus account may not read " + b.cfg.Collection + ", so it cannot join"}
	}
	b.joinNotice(c)
	return nil
}
