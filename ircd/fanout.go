package ircd

// fanOut queues each recipient's variant of a message, except for those skip reports, and
// returns the number of lines queued; each connection's writer goroutine then writes its
// queue, several lines per write when they have piled up. It never blocks on a slow recipient.
//
// Two alternatives were measured with make bench and rejected: writing inline from the
// delivering goroutine when a connection's queue was empty (no gain per message, and a JOIN
// storm of 5,000 clients took 132 s of CPU instead of 30 s, because lines were no longer
// batched; tried again for channel messages only, with ircbench's lighter epoll receivers,
// it cost more: 88 ms of daemon CPU per message to 5,000 clients against 67 ms), and
// splitting a large fan-out between goroutines (slower on loopback, where the receivers need
// the other core).
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
