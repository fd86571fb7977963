package bridge

import (
	"context"
)

// isGuestPost reports whether it was posted for an IRC guest: only the bridge's service user
// creates such items, so irc_nick on an item by anyone else is ignored (it would let any
// user who may create items speak under a name of their choosing).
func (b *Bridge) isGuestPost(it item) bool {
	id := b.serviceID.Load()
	return it.IRCNick != "" && id != nil && *id != "" && it.Author.ID == *id
}

// learnServiceUser reads the service user's id when the start-up check could not (Directus
// was unreachable then); the stream calls it before it delivers anything.
func (b *Bridge) learnServiceUser(ctx context.Context) {
	if b.serviceID.Load() != nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	me, err := b.dc.Me(rctx, b.cfg.ServiceToken)
	if err != nil {
		b.log.Warn().Err(err).Msg("cannot read the service user; guest posts show under its name until it can be read")
		return
	}
	b.serviceID.Store(&me.ID)
}
