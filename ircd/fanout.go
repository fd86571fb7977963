package ircd

// fanOut gives each recipient, except those skip reports, its variant of a message: written
// at once when its connection is idle (see writeNow), else queued. It never blocks on a slow
// recipient. Splitting a large fan-out between CPUs was measured and rejected: on loopback
// with the receivers on the same two cores, 5,000 recipients took longer (p50 47 ms against
// 32 ms) because the receivers need the second core.
func fanOut(recipients []*Client, vs *variants, id string, skip func(*Client) bool) {
	for _, c := range recipients {
		if skip == nil || !skip(c) {
			c.enqueue(vs.get(c), id, true)
		}
	}
}
