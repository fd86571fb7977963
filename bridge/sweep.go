package bridge

import (
	"context"
	"net/http"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
)

// runSweep keeps the user directory current and catches revoked users: every
// RevocationCheck it reads all users once with the service token (one request, whatever
// the number of IRC clients) and disconnects connected users who are no longer active or
// no longer exist. It also refreshes sessions not refreshed for SessionKeepAlive, so that
// an idle user's refresh token never reaches REFRESH_TOKEN_TTL; a refresh that fails
// means the session was revoked (Directus ends sessions on a password change).
func (b *Bridge) runSweep(ctx context.Context) {
	b.sweep(ctx)
	tick := time.NewTicker(b.cfg.RevocationCheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			b.sweep(ctx)
		}
	}
}

func (b *Bridge) sweep(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	var all []directus.User
	err := b.dc.Do(rctx, b.cfg.ServiceToken, http.MethodGet, "/users?fields=id,email,first_name,status&limit=-1", nil, &all)
	if err != nil {
		b.log.Debug().Err(err).Msg("user sweep skipped")
		return
	}
	list := make([]user, 0, len(all))
	active := make(map[string]bool, len(all))
	for _, u := range all {
		list = append(list, user{ID: u.ID, Email: u.Email, FirstName: u.FirstName, Status: u.Status})
		active[u.ID] = u.Status == "active"
	}
	b.dir.replace(list)
	for id, a := range b.accounts.users() {
		if !active[id] {
			b.revoke(a, "Your Directus account is no longer active (suspended, archived or deleted)", nil)
		}
	}
	for _, a := range b.accounts.list() {
		a.ws.closeIdle(wsIdle)
		if a.sess != nil && time.Since(a.sess.LastRenewed()) > b.cfg.SessionKeepAlive {
			if err := a.sess.Renew(rctx); err != nil && !isTransient(err) {
				b.revoke(a, "Your Directus session has ended; please log in again", nil)
			}
		}
	}
}
