package bridge

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
)

const (
	// DefaultBackfillMax is channel.backfill_max's default.
	DefaultBackfillMax = 500
	// backfillPage is how many missed items one read returns: bounded frames, whatever the
	// length of the outage.
	backfillPage = 200
	// paceFill is the send-queue fill above which a back-fill waits before the next item: the
	// other half stays free for live traffic and for one long (split) message.
	paceFill = 0.5
	// paceStall is how long a back-fill waits for a queue that does not drain at all. Such a
	// client is stuck; it is then dropped with "SendQ exceeded" like on any burst, rather
	// than holding up everyone's back-fill.
	paceStall = 5 * time.Second
	// pacePoll is how often a waiting back-fill looks at the queues again.
	pacePoll = 10 * time.Millisecond
)

// queueFiller is the part of *ircd.Server that paces a back-fill: Broadcast never blocks, so
// the back-fill looks at how full the clients' send queues are before each item.
type queueFiller interface {
	SendQueueFill() float64
}

// backfill delivers what was created while the subscription was down: the items after the
// last one seen, read in pages in id order. When more than backfill_max were missed, only the
// newest backfill_max are delivered and clients are told how many were left out.
func (b *Bridge) backfill(ctx context.Context, k *directus.Conn) error {
	after := b.delivery.lastStreamID()
	missed, err := k.Count(ctx, b.cfg.Collection, idAfter(after))
	if err != nil {
		return fmt.Errorf("back-fill %s: count: %w", b.cfg.Collection, err)
	}
	limit := b.cfg.BackfillMax
	if limit <= 0 {
		limit = DefaultBackfillMax
	}
	skipped := 0
	if missed > limit {
		// The newest `limit` start after the (limit+1)-th newest.
		rows, err := k.Read(ctx, b.cfg.Collection, directus.Query{Fields: []string{"id"}, Filter: idAfter(after),
			Sort: []string{"-id"}, Limit: intp(1), Offset: intp(limit)})
		if err != nil {
			return fmt.Errorf("back-fill %s: find the newest %d: %w", b.cfg.Collection, limit, err)
		}
		if len(rows) == 1 {
			cut, err := directus.ItemID(rows[0])
			if err != nil {
				return fmt.Errorf("back-fill %s: %w", b.cfg.Collection, err)
			}
			after, skipped = cut, missed-limit
			b.skipTo(cut)
			b.log.Warn().Int("missed", missed).Int("skipped", skipped).Int("backfill_max", limit).
				Msg("back-fill: more messages missed than channel.backfill_max; the oldest are not delivered to IRC")
			b.srv.NoticeAll(fmt.Sprintf("%d messages were sent while this server was cut off from Directus; "+
				"%d older ones are not shown here, only the newest %d. All are stored: read them on the web page, "+
				"or with CHATHISTORY BEFORE the first one shown (your client's history command).",
				missed, skipped, limit))
		}
	}
	p := pacer{}
	delivered, read := 0, 0
	for {
		raws, err := k.Read(ctx, b.cfg.Collection, directus.Query{Fields: itemFields, Filter: idAfter(after),
			Sort: []string{"id"}, Limit: intp(backfillPage)})
		if err != nil {
			return fmt.Errorf("back-fill %s after id %s: %w", b.cfg.Collection, after, err)
		}
		read += len(raws)
		items := b.decodeAll(raws)
		for _, it := range items {
			if err := p.wait(ctx, b.srv); err != nil {
				return err
			}
			if b.deliverCreate(it, nil, true) {
				delivered++
			}
		}
		if len(raws) < backfillPage {
			break
		}
		if after, err = lastID(raws); err != nil {
			return fmt.Errorf("back-fill %s: %w", b.cfg.Collection, err)
		}
	}
	b.metrics.backfilled(read)
	b.log.Info().Int("missed", missed).Int("read", read).Int("delivered", delivered).Int("skipped", skipped).
		Stringer("paced", p.waited).Msg("back-filled messages created during the outage")
	return nil
}

// idAfter filters ids greater than id ("" for all).
func idAfter(id string) map[string]any {
	if id == "" {
		return nil
	}
	return map[string]any{"id": map[string]any{"_gt": id}}
}

func lastID(raws []json.RawMessage) (string, error) {
	return directus.ItemID(raws[len(raws)-1])
}

// skipTo moves the back-fill's start past items that are deliberately not delivered.
func (b *Bridge) skipTo(id string) {
	d := b.delivery
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seenStreamLocked(id)
}

// pacer holds a back-fill while the fullest channel member's send queue is over paceFill, so
// that a large back-fill reaches clients at the pace they read instead of overflowing their
// queues. A queue that does not drain for paceStall belongs to a stuck client: the pacer stops
// waiting for it until it drains (or, more likely, is dropped).
type pacer struct {
	stall    time.Duration // 0: paceStall
	stalled  bool
	lastFill float64
	waited   time.Duration
}

func (p *pacer) wait(ctx context.Context, srv Server) error {
	qf, ok := srv.(queueFiller)
	if !ok {
		return nil
	}
	fill := qf.SendQueueFill()
	if fill <= paceFill {
		p.stalled = false
		return nil
	}
	if p.stalled && fill >= p.lastFill {
		return nil
	}
	start := time.Now()
	defer func() { p.waited += time.Since(start) }()
	progress := start
	p.lastFill = fill
	t := time.NewTicker(pacePoll)
	defer t.Stop()
	for fill > paceFill {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		fill = qf.SendQueueFill()
		if fill < p.lastFill {
			progress = time.Now()
		}
		p.lastFill = fill
		if time.Since(progress) > cmp.Or(p.stall, paceStall) {
			p.stalled = true
			return nil
		}
	}
	p.stalled = false
	return nil
}
