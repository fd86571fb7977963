package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/directus-ircd/directus-ircd/directus"
)

var errTimeout = errors.New("timed out")

// parseHit reads a bench message's kind and number from an event item's text ("fo 12").
func parseHit(item json.RawMessage, at time.Time) (hit, bool) {
	var it struct{ Text string }
	if json.Unmarshal(item, &it) != nil {
		return hit{}, false
	}
	kind, num, _ := strings.Cut(it.Text, " ")
	n, err := strconv.ParseInt(num, 10, 64)
	return hit{kind, n, at}, err == nil
}

// waitHit waits for the direct receiver's event of message kind+seq, skipping others.
func (b *bench) waitHit(ctx context.Context, kind string, seq int64) (time.Time, error) {
	t := time.NewTimer(b.o.msgTimeout)
	defer t.Stop()
	for {
		select {
		case h := <-b.subHits:
			if h.kind == kind && h.seq == seq {
				return h.at, nil
			}
		case <-t.C:
			return time.Time{}, fmt.Errorf("%s %d: no event on the direct receiver: %w", kind, seq, errTimeout)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// ---------------------------------------------------------------- latency

// latency alternates blocks of the two paths on the same Directus:
//   - bridge: IRC A PRIVMSG → daemon → Directus create → daemon → IRC B;
//   - direct (the floor): a Directus WebSocket create → another subscribed WebSocket
//     client's event.
//
// Each message waits until the last subscriber (ircbench's direct receiver) has the event,
// so that every message starts with Directus idle.
func (b *bench) latency(ctx context.Context) error {
	o := b.o
	a, err := dialIRC(ctx, o.ircAddr, "benchlat", "token:"+b.tokens["Benchlat"])
	if err != nil {
		return err
	}
	defer a.Close()
	rcv, err := dialIRC(ctx, o.ircAddr, "latrecv", "")
	if err != nil {
		return err
	}
	defer rcv.Close()
	var bridge, direct, reply sample
	bridgeOne := func(seq int64) error {
		text := "lat " + strconv.FormatInt(seq, 10)
		t0 := time.Now()
		if err := a.send(cmd("PRIVMSG", channel, text)); err != nil {
			return err
		}
		at, err := rcv.await(ctx, o.msgTimeout, func(m ircmsg.Message) bool {
			return m.Command == "PRIVMSG" && len(m.Params) == 2 && m.Params[1] == text
		})
		if err != nil {
			return err
		}
		bridge = append(bridge, at.Sub(t0))
		_, err = b.waitHit(ctx, "lat", seq)
		return err
	}
	directOne := func(seq int64) error {
		t0 := time.Now()
		_, err := b.wsCreate.Create(ctx, "messages", map[string]any{"text": "dlat " + strconv.FormatInt(seq, 10)}, &directus.Query{Fields: itemFields})
		if err != nil {
			return err
		}
		reply = append(reply, time.Since(t0))
		at, err := b.waitHit(ctx, "dlat", seq)
		direct = append(direct, at.Sub(t0))
		return err
	}
	b.log.Printf("latency: %d+%d messages per path, blocks of %d", o.latWarmup, o.latMsgs, o.latBlock)
	total := o.latWarmup + o.latMsgs
	for done := 0; done < total; {
		blk := min(o.latBlock, total-done)
		for _, one := range []func(int64) error{bridgeOne, directOne} {
			for range blk {
				if err := one(b.seq.Add(1)); err != nil {
					return fmt.Errorf("latency: %w", err)
				}
			}
		}
		if done < o.latWarmup { // warm-ups are whole blocks or the first part of one
			w := min(blk, o.latWarmup-done)
			bridge, direct, reply = bridge[w:], direct[w:], reply[w:]
		}
		done += blk
	}
	bridge, direct, reply = bridge.sorted(), direct.sorted(), reply.sorted()
	for _, x := range []struct {
		name, label string
		s           sample
	}{
		{"latency_bridge", "latency IRC A→daemon→Directus→daemon→IRC B", bridge},
		{"latency_direct", "latency Directus WS create→other WS client's event", direct},
	} {
		for _, q := range []float64{50, 90, 99} {
			b.rep.add(fmt.Sprintf("%s_p%.0f_ms", x.name, q), fmt.Sprintf("%s p%.0f", x.label, q), x.s.pct(q), "ms")
		}
	}
	b.rep.add("latency_ws_create_p50_ms", "breakdown: WS create→creator's reply p50", reply.pct(50), "ms")
	b.rep.target("latency_ratio_p50", "latency ratio bridge÷direct p50", bridge.pct(50)/direct.pct(50), "ratio", "<=", 1.0)
	b.rep.target("latency_ratio_p99", "latency ratio bridge÷direct p99", bridge.pct(99)/direct.pct(99), "ratio", "<=", 1.1)
	b.floor = [2]float64{direct.pct(50), direct.pct(99)}
	b.rep.note("latency: %d measured messages per path after %d warm-ups, alternating blocks of %d", o.latMsgs, o.latWarmup, o.latBlock)
	return nil
}

// ---------------------------------------------------------------- throughput

// throughput compares creates acknowledged per second through IRC (K logged-in clients, each
// with one PRIVMSG+PING in flight: the PONG comes after Directus acknowledged the create)
// with K direct WebSocket clients each with one create in flight, in alternating blocks.
func (b *bench) throughput(ctx context.Context) error {
	o := b.o
	k := len(b.senders)
	direct := make([]*directus.Conn, k)
	for i := range direct {
		var err error
		if direct[i], err = b.dial(ctx, fmt.Sprintf("Benchtp%02d", i+1)); err != nil {
			return err
		}
		defer direct[i].Close()
	}
	var refused atomic.Int64
	ircOne := func(i int) error {
		seq := strconv.FormatInt(b.seq.Add(1), 10)
		c := b.senders[i]
		if err := c.send(cmd("PRIVMSG", channel, "tp "+seq), cmd("PING", "tp"+seq)); err != nil {
			return err
		}
		_, err := c.await(ctx, 30*time.Second, func(m ircmsg.Message) bool {
			if m.Command == "FAIL" || m.Command == "404" {
				refused.Add(1)
			}
			return m.Command == "PONG" && m.Params[len(m.Params)-1] == "tp"+seq
		})
		return err
	}
	directOne := func(i int) error {
		_, err := direct[i].Create(ctx, "messages", map[string]any{"text": "dtp " + strconv.FormatInt(b.seq.Add(1), 10)}, &directus.Query{Fields: itemFields})
		return err
	}
	b.log.Printf("throughput: %d blocks × %s per path, %d parallel clients each", o.tpBlocks, o.tpDuration, k)
	var n [2]int64
	for range o.tpBlocks {
		for p, one := range []func(int) error{ircOne, directOne} {
			c, err := b.tpBlock(ctx, k, one)
			if err != nil {
				return fmt.Errorf("throughput: %w", err)
			}
			n[p] += c
		}
	}
	sec := float64(o.tpBlocks) * o.tpDuration.Seconds()
	irc, dir := float64(n[0])/sec, float64(n[1])/sec
	b.rep.add("throughput_irc_per_s", fmt.Sprintf("creates/s via IRC (%d clients)", k), irc, "per_s")
	b.rep.add("throughput_direct_per_s", fmt.Sprintf("creates/s direct WS (%d clients)", k), dir, "per_s")
	b.rep.target("throughput_ratio", "throughput ratio IRC÷direct", irc/dir, "ratio", ">=", 0.9)
	b.rep.note("throughput: %d blocks of %s per path; IRC lines refused: %d", o.tpBlocks, o.tpDuration, refused.Load())
	return nil
}

// tpBlock runs one(i) in a loop for each of k clients for 0.5 s of warm-up plus
// -tp-duration, and counts the acknowledgements that fall in the counted window.
func (b *bench) tpBlock(ctx context.Context, k int, one func(i int) error) (int64, error) {
	start := time.Now()
	from, to := start.Add(500*time.Millisecond), start.Add(500*time.Millisecond+b.o.tpDuration)
	var cnt atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, k)
	for i := range k {
		wg.Go(func() {
			for time.Now().Before(to) && ctx.Err() == nil {
				if errs[i] = one(i); errs[i] != nil {
					return
				}
				if at := time.Now(); at.After(from) && at.Before(to) {
					cnt.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return cnt.Load(), errors.Join(append(errs, ctx.Err())...)
}

// ---------------------------------------------------------------- fan-out

// fanStep is one fan-out size: msgs messages to receivers 0..n-1.
type fanStep struct {
	n, msgs int
	base    int64          // sequence number of message 0
	recv    []atomic.Int64 // [m*n+idx]: unix ns of receipt, 0 if none
	left    []atomic.Int32 // receipts still expected of message m
	full    []chan struct{}
	clockAt []atomic.Int64 // unix ns when the event clock (served before the daemon) got m
}

func newStep(n, msgs int, base int64) *fanStep {
	st := &fanStep{n: n, msgs: msgs, base: base, recv: make([]atomic.Int64, msgs*n),
		left: make([]atomic.Int32, msgs), full: make([]chan struct{}, msgs), clockAt: make([]atomic.Int64, msgs)}
	for i := range st.full {
		st.full[i] = make(chan struct{})
	}
	return st
}

// record notes receiver idx's receipt of message seq; false if it is not of this step.
func (st *fanStep) record(idx int, seq int64, at time.Time) bool {
	m := seq - st.base
	if m < 0 || m >= int64(st.msgs) || idx >= st.n {
		return false
	}
	if st.recv[int(m)*st.n+idx].CompareAndSwap(0, at.UnixNano()) && st.left[m].Add(-1) == 0 {
		close(st.full[m])
	}
	return true
}

func (b *bench) onClock(h hit) {
	if st := b.clock.Load(); st != nil && h.kind == "fo" {
		if m := h.seq - st.base; m >= 0 && m < int64(st.msgs) {
			st.clockAt[m].CompareAndSwap(0, h.at.UnixNano())
		}
	}
}

// fanout grows the number of joined guests through the sizes; at each it reads the daemon's
// RSS, its Directus cost at N=1,000, then creates messages directly in Directus one at a time
// and times their arrival at every guest.
func (b *bench) fanout(ctx context.Context) error {
	o := b.o
	b.log.Printf("fan-out: %d untimed creates warm Directus up", o.fanWarmups)
	for i := range o.fanWarmups {
		if _, err := b.wsCreate.Create(ctx, "messages", map[string]any{"text": "warm " + strconv.Itoa(i)}, &directus.Query{Fields: []string{"id"}}); err != nil {
			return fmt.Errorf("warm-up create: %w", err)
		}
	}
	rss0 := b.steadyRSS(ctx)
	var err error
	if b.poll, err = newReceiverPoll(o.fanSizes[len(o.fanSizes)-1]); err != nil {
		return err
	}
	for _, n := range o.fanSizes {
		if err := b.connectReceivers(ctx, n); err != nil {
			return err
		}
		joined := b.poll.live()
		b.rep.target(fmt.Sprintf("fanout_N%d_connect_failures", n), fmt.Sprintf("fan-out N=%d guests not joined", n), float64(n-joined), "count", "==", 0)
		if rss := b.steadyRSS(ctx); !math.IsNaN(rss) {
			per := (rss - rss0) / 1024 / float64(joined)
			name, label := fmt.Sprintf("memory_per_conn_kib_N%d", n), fmt.Sprintf("daemon RSS per idle joined conn (N=%d)", n)
			if n >= 1000 {
				b.rep.target(name, label, per, "KiB", "<=", 32)
			} else {
				b.rep.add(name, label, per, "KiB")
			}
		}
		if n == 1000 && o.phases["cost"] {
			if err := b.cost(ctx, n+len(b.senders), "idle guests and logged-in users"); err != nil {
				return err
			}
		}
		if err := b.phase(ctx, fmt.Sprintf("fan-out N=%d messages", n), func(ctx context.Context) error { return b.fanoutRounds(ctx, n) }); err != nil {
			return err
		}
	}
	b.poll.Close()
	b.poll = nil
	// The daemon tells every remaining member of each guest's QUIT (N²/2 lines): let it be
	// done, and idle, before the next phase times anything.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		cpu := b.metric("process_cpu_seconds_total")
		if err := sleepCtx(ctx, time.Second); err != nil {
			return err
		}
		if b.metric("process_cpu_seconds_total")-cpu < 0.05 && b.metric(`directus_ircd_clients{transport="plain"}`) <= float64(len(b.senders)) {
			break
		}
	}
	return nil
}

// steadyRSS is the daemon's RSS in bytes (its /metrics), the median of 5 readings after
// -settle idle.
func (b *bench) steadyRSS(ctx context.Context) float64 {
	if sleepCtx(ctx, b.o.settle) != nil {
		return nan
	}
	var xs []float64
	for i := range 5 {
		if i > 0 && sleepCtx(ctx, 400*time.Millisecond) != nil {
			return nan
		}
		xs = append(xs, b.metric("process_resident_memory_bytes"))
	}
	slices.Sort(xs)
	return xs[2]
}

// connectReceivers dials guests until there are upto, at -connect-rate with at most
// -max-inflight still registering, and waits until they have joined or failed.
func (b *bench) connectReceivers(ctx context.Context, upto int) error {
	o := b.o
	b.log.Printf("fan-out: connecting guests %d..%d at %.0f/s", b.poll.n+1, upto, o.connectRate)
	start, next := time.Now(), time.Now()
	interval := time.Duration(float64(time.Second) / o.connectRate)
	pending := func() int { return b.poll.n - int(b.poll.joined.Load()) - int(b.poll.dead.Load()) }
	for b.poll.n < upto {
		for time.Now().Before(next) || pending() >= o.maxInflight {
			if err := sleepCtx(ctx, time.Millisecond); err != nil {
				return err
			}
		}
		next = next.Add(interval)
		var err error
		for try := 0; try < 4; try++ {
			if err = b.poll.dial(o.ircAddr); err == nil {
				break
			}
			_ = sleepCtx(ctx, 200*time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("fan-out: cannot connect guest %d: %w", b.poll.n+1, err)
		}
	}
	for deadline := time.Now().Add(2 * time.Minute); pending() > 0 && time.Now().Before(deadline); {
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	b.log.Printf("fan-out: %d guests connected in %.1f s", upto, time.Since(start).Seconds())
	return nil
}

// fanoutRounds creates warm-up+measured messages directly in Directus, one at a time, each
// once every live guest has the previous one and -fanout-gap has passed.
func (b *bench) fanoutRounds(ctx context.Context, n int) (err error) {
	o := b.o
	// The direct receiver is unsubscribed meanwhile: Directus serves exactly two
	// subscriptions, the event clock's and then the daemon's.
	b.wsSub.Close()
	defer func() { err = errors.Join(err, b.openDirect(ctx)) }()
	msgs := o.fanWarmup + o.fanMsgs
	st := newStep(n, msgs, b.seq.Add(int64(msgs))-int64(msgs)+1)
	p := b.poll
	dup0, ooo0, out0 := p.dup.Load(), p.ooo.Load(), p.outside.Load()
	m0 := b.scrape()
	b.clock.Store(st)
	p.step.Store(st)
	defer p.step.Store(nil)
	b.log.Printf("fan-out N=%d: %d+%d messages", n, o.fanWarmup, o.fanMsgs)
	sent := make([]time.Time, msgs)
	expect := make([]int, msgs) // live guests when message m was created
	timeouts, createErrs := 0, atomic.Int64{}
	for m := range msgs {
		expect[m] = p.live()
		if st.left[m].Add(int32(expect[m])) == 0 {
			close(st.full[m])
		}
		sent[m] = time.Now()
		go func() {
			// The reply asks for the id only: the scenario is Directus's event, not the reply.
			if _, err := b.wsCreate.Create(ctx, "messages", map[string]any{"text": "fo " + strconv.FormatInt(st.base+int64(m), 10)}, &directus.Query{Fields: []string{"id"}}); err != nil {
				createErrs.Add(1)
			}
		}()
		select {
		case <-st.full[m]:
		case <-time.After(o.msgTimeout):
			timeouts++
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := sleepCtx(ctx, o.fanGap); err != nil {
			return err
		}
	}
	if err := sleepCtx(ctx, time.Second); err != nil { // late receipts still count
		return err
	}
	m1 := b.scrape()
	var evSlowest, evFirst, spread, fifth, toEvent sample
	var times []int64 // one message's receipt times
	lost, noClock := 0, 0
	var trace *bufio.Writer
	if o.traceFile != "" {
		f, err := os.OpenFile(o.traceFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("-fanout-trace: %w", err)
		}
		defer f.Close()
		trace = bufio.NewWriter(f)
		defer trace.Flush()
	}
	for m := range msgs {
		times = times[:0]
		for i := m * n; i < (m+1)*n; i++ {
			if v := st.recv[i].Load(); v != 0 {
				times = append(times, v)
			}
		}
		slices.Sort(times)
		got := len(times)
		first, last := int64(math.MaxInt64), int64(0)
		if got > 0 {
			first, last = times[0], times[got-1]
		}
		lost += max(0, expect[m]-got)
		clock := st.clockAt[m].Load()
		if m < o.fanWarmup || got == 0 {
			continue
		}
		spread = append(spread, time.Duration(last-first))
		fifth = append(fifth, time.Duration(times[max(0, got/5-1)]-first))
		if clock == 0 {
			noClock++
			continue
		}
		toEvent = append(toEvent, time.Duration(clock-sent[m].UnixNano()))
		evFirst = append(evFirst, time.Duration(first-clock))
		evSlowest = append(evSlowest, time.Duration(last-clock))
		if trace != nil {
			fmt.Fprintf(trace, "%d,%d,%.2f,%.2f,%.2f\n", n, m, ms(toEvent[len(toEvent)-1]), ms(evFirst[len(evFirst)-1]), ms(time.Duration(last-first)))
		}
	}
	pre, lbl := fmt.Sprintf("fanout_N%d_", n), fmt.Sprintf("fan-out N=%d ", n)
	for _, x := range []struct {
		name, label string
		s           sample
	}{
		{"event_slowest", "slowest receiver from the Directus event", evSlowest},
		{"event_first", "event→first IRC receipt", evFirst},
		{"spread", "first→last IRC receipt", spread},
		{"to_event", "create→Directus event", toEvent},
	} {
		s := x.s.sorted()
		b.rep.add(pre+x.name+"_p50_ms", lbl+x.label+", p50", s.pct(50), "ms")
		b.rep.add(pre+x.name+"_p99_ms", lbl+x.label+", p99", s.pct(99), "ms")
	}
	res := fanResult{n: n, spread: spread.sorted(), first: evFirst.sorted(), cpuPerLine: nan}
	// Linear within a message: the whole spread against five times the spread to the fifth
	// of the receivers, over the same messages at the same moment (unlike two sizes, which
	// the machine's changing load can hit differently).
	// Below N=1,000, and sometimes at it, the first fifth arrives in one read: the ratio
	// has no denominator then and is left out rather than reported as missed.
	if toFifth := fifth.sorted().pct(50); n >= 1000 && toFifth > 0 {
		b.rep.target(pre+"spread_linearity_p50", lbl+"first→last ÷ (5 × first→N/5th receipt), p50",
			res.spread.pct(50)/(5*toFifth), "ratio", "<=", 1.2)
	} else if n >= 1000 {
		b.rep.note("fan-out N=%d: the first fifth of the receivers got each message in one read (p50 0 ms); spread linearity not measurable", n)
	}
	if m0 != nil && m1 != nil {
		// The daemon's own account: deliveries queued, and its Broadcast time (handed to the
		// IRC server → last member's queue), over the same messages.
		count := m1["directus_ircd_fanout_duration_seconds_count"] - m0["directus_ircd_fanout_duration_seconds_count"]
		b.rep.add(pre+"daemon_broadcast_mean_ms", lbl+"daemon's Broadcast time (metrics), mean",
			1000*(m1["directus_ircd_fanout_duration_seconds_sum"]-m0["directus_ircd_fanout_duration_seconds_sum"])/count, "ms")
		members := m0[`directus_ircd_clients{transport="plain"}`] // every IRC client is in the channel
		lines := m1["directus_ircd_channel_lines_out_total"] - m0["directus_ircd_channel_lines_out_total"]
		b.rep.target(pre+"deliveries_ratio", lbl+"lines the daemon queued ÷ (messages × members)", lines/(float64(msgs)*members), "ratio", "==", 1)
		res.cpuPerLine = 1e6 * (m1["process_cpu_seconds_total"] - m0["process_cpu_seconds_total"]) / lines
		b.rep.add(pre+"daemon_cpu_per_line_us", lbl+"daemon CPU per delivered line", res.cpuPerLine, "us")
	}
	b.fanRes = append(b.fanRes, res)
	b.rep.target(pre+"lost", lbl+"messages lost", float64(lost), "count", "==", 0)
	b.rep.target(pre+"doubled", lbl+"messages doubled", float64(p.dup.Load()-dup0+p.outside.Load()-out0), "count", "==", 0)
	b.rep.target(pre+"out_of_order", lbl+"messages out of order", float64(p.ooo.Load()-ooo0), "count", "==", 0)
	b.rep.note("fan-out N=%d: %d measured messages after %d warm-ups; %d rounds timed out; %d create errors; the clock missed %d; %d guests disconnected (last: %v)",
		n, o.fanMsgs, o.fanWarmup, timeouts, createErrs.Load(), noClock, p.dead.Load(), deref(p.lastErr.Load()))
	b.log.Printf("fan-out N=%d: slowest from the event p50 %.1f p99 %.1f ms, lost %d", n, evSlowest.sorted().pct(50), evSlowest.sorted().pct(99), lost)
	return nil
}

// fanResult is one fan-out size's first→last spread and event→first receipt, sorted, and
// the daemon's CPU per delivered line (µs).
type fanResult struct {
	n             int
	spread, first sample
	cpuPerLine    float64
}

// fanoutRatios states the fan-out across sizes as ratios: the daemon's CPU per delivered
// line at the largest size against the next smaller one (linear cost; a target from
// N=1,000 up, below which fixed costs per message dominate), the first→last spread per 1,000
// receivers likewise (information: the two sizes run a minute apart, and the machine's load
// changes within that), and event→first IRC receipt against the direct floor.
func (b *bench) fanoutRatios() {
	if k := len(b.fanRes); k >= 2 {
		hi, lo := b.fanRes[k-1], b.fanRes[k-2]
		cpu := hi.cpuPerLine / lo.cpuPerLine
		lbl := fmt.Sprintf("fan-out daemon CPU per line, N=%d ÷ N=%d", hi.n, lo.n)
		if lo.n >= 1000 {
			b.rep.target("fanout_cpu_per_line_scaling", lbl, cpu, "ratio", "<=", 1.2)
		} else {
			b.rep.add("fanout_cpu_per_line_scaling", lbl, cpu, "ratio")
		}
		for _, q := range []float64{50, 99} {
			b.rep.add(fmt.Sprintf("fanout_spread_scaling_p%.0f", q), fmt.Sprintf("fan-out first→last per 1,000, N=%d ÷ N=%d, p%.0f", hi.n, lo.n, q),
				(hi.spread.pct(q)/float64(hi.n))/(lo.spread.pct(q)/float64(lo.n)), "ratio")
		}
	}
	for _, f := range b.fanRes {
		for i, q := range []float64{50, 99} {
			if f.n >= 1000 && b.floor[0] > 0 {
				b.rep.target(fmt.Sprintf("fanout_N%d_first_ratio_p%.0f", f.n, q), fmt.Sprintf("fan-out N=%d event→first receipt ÷ direct floor, p%.0f", f.n, q),
					f.first.pct(q)/b.floor[i], "ratio", "<=", []float64{1.0, 1.1}[i])
			}
		}
	}
}

func deref(p *string) string {
	if p == nil {
		return "none"
	}
	return *p
}
