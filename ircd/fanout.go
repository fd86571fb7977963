package ircd

import "sync"

// fanOut queues each recipient's variant of a message, except for those skip reports, and
// returns the number of lines queued; each connection's writer goroutine then writes its
// queue, several lines per write when they have piled up. It never blocks on a slow recipient.
//
// Two alternatives were measured with make bench and rejected (figures in
// docs/PERFORMANCE.md): writing inline from the delivering goroutine when a connection's
// queue was empty (lines are no longer batched, which costs more CPU), and splitting a large
// fan-out between goroutines (slower on loopback, where the receivers need the other core).
func fanOut(recipients []*Client, vs *variants, id string, skip func(*Client) bool) (lines int) {
	for _, c := range recipients {
		if skip == nil || !skip(c) {
			ls := vs.get(c)
			c.enqueue(ls, id, true)
			lines += len(ls)
		}
	}
	return lines
}

// snapshotPool recycles the member snapshots of fan-outs (40 KiB for 5,000 members).
var snapshotPool = sync.Pool{New: func() any { return new([]*Client) }}

// snapshotMembersLocked copies the channel's members (called with s.mu held), so that the
// fan-out enqueues after releasing the lock. Ordering stays right: a member that joins after
// the copy gets the message from the replay (Deliver adds it under the same lock); one that
// was joining gets it held until its JOIN replies are queued, and dropped if its replay has
// it (or, when the fan-out reaches it after its JOIN ended, by replayedLast); one that leaves
// after the copy may still get it, as if it had been said just before.
func (s *Server) snapshotMembersLocked() *[]*Client { return snapshotOf(s.members) }

// snapshotOf copies recipients into a pooled slice (called with s.mu held).
func snapshotOf(recipients []*Client) *[]*Client {
	p := snapshotPool.Get().(*[]*Client)
	*p = append((*p)[:0], recipients...)
	return p
}

// releaseSnapshot returns a snapshot to the pool, without its clients.
func releaseSnapshot(p *[]*Client) {
	clear(*p)
	*p = (*p)[:0]
	snapshotPool.Put(p)
}
