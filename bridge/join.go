package bridge

import (
	"context"

	"github.com/directus-ircd/directus-ircd/ircd"
)

// Join implements ircd.Backend. Read permission on the collection was checked once at login
// (one read of a single id with the user's token); a user without it cannot join. History
// comes from the daemon's own copy of the newest messages, so a JOIN costs Directus nothing.
func (b *Bridge) Join(ctx context.Context, c *ircd.Client) ([]ircd.Message, error) {
	a := acctOf(c)
	if a == nil {
		return nil, &ircd.UserError{Text: "Not logged in"}
	}
	if !a.canRead {
		return nil, &ircd.UserError{Text: "Your Directus account may not read " + b.cfg.Collection + ", so it cannot join"}
	}
	return b.delivery.historyCopy(), nil
}
