package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

func parseLoopbackURL(raw string) (int, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return 0, fmt.Errorf("-directus: %w", err)
	}
	if err := checkLoopbackAddr(u.Host); err != nil {
		return 0, fmt.Errorf("-directus: %w", err)
	}
	p := u.Port()
	if p == "" {
		p = "80"
		if u.Scheme == "https" {
			p = "443"
		}
	}
	return strconv.Atoi(p)
}

// checkLoopbackAddr refuses anything but loopback: ircbench opens thousands of connections.
func checkLoopbackAddr(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address; ircbench only runs against 127.0.0.1", hostport)
	}
	return nil
}

// ---------------------------------------------------------------- throughput senders

// tpSender is a logged-in IRC client (static token) that sends channel messages, each
// followed by a PING: the PONG comes after the daemon's Post returned, i.e. after Directus
// acknowledged the create (ARCHITECTURE.md: ordering guarantee).
type tpSender struct {
	c       *ircClient
	pong    chan struct{}
	errs    atomic.Int64
	lastErr atomic.Pointer[string]
}

func (s *tpSender) onLine(msg *ircmsg.Message, _ time.Time) {
	switch msg.Command {
	case "PONG":
		select {
		case s.pong <- struct{}{}:
		default:
		}
	case "NOTICE", "FAIL", "404":
		if msg.Command == "NOTICE" && len(msg.Params) > 0 && msg.Params[0] == channel {
			return // channel notices (edits, deletes) are not refusals
		}
		s.errs.Add(1)
		t := msg.Command + " " + strings.Join(msg.Params, " ")
		s.lastErr.Store(&t)
	}
}

func (b *bench) connectSenders(ctx context.Context) error {
	for i := 1; i <= b.o.tpSenders; i++ {
		name := fmt.Sprintf("Benchtp%02d", i)
		s := &tpSender{pong: make(chan struct{}, 1)}
		c, err := dialIRC(ctx, b.o.ircAddr, name, "token:"+b.tokens[name], strings.ToLower(name), s.onLine)
		if err != nil {
			return err
		}
		if c.Nick() != name {
			b.rep.note("%s logged in with nick %q (expected the Directus first name)", name, c.Nick())
		}
		s.c = c
		b.senders = append(b.senders, s)
	}
	b.log.Printf("%d logged-in IRC senders joined %s", len(b.senders), channel)
	return nil
}

// ---------------------------------------------------------------- Directus cost

// directusCost counts the daemon's ESTABLISHED TCP connections to Directus and finds which
// of them carry subscription events: while the daemon makes no REST call (nobody writes on
// IRC), ircbench creates a few items directly; only the event stream's connection receives
// bytes. Two rounds; a connection counts if it received in both. The bytes it received per
// create, divided by the size of one event frame with the daemon's query (measured on
// ircbench's own subscriber), is the number of subscriptions the daemon holds.
func (b *bench) directusCost(ctx context.Context, n int, what string) error {
	if b.o.pid == 0 {
		b.rep.note("Directus cost at N=%d skipped: no -pid", n)
		return nil
	}
	conns, err := daemonConnsTo(b.o.pid, b.directusPort)
	if err != nil {
		return fmt.Errorf("daemon connections: %w", err)
	}
	daemonPorts := map[int]bool{}
	for _, c := range conns {
		daemonPorts[c.localPort] = true
	}
	const probes = 5
	active := map[int]int{} // local port → rounds in which it received
	var streamBytes int64
	var frameSum, frameN int
	rounds := 2
	for r := 0; r < rounds; r++ {
		before, err := rxBytes(ctx, b.directusPort)
		if err != nil {
			b.rep.note("Directus cost at N=%d: cannot read per-connection byte counts (%v); only the connection count is given", n, err)
			rounds = 0
			break
		}
		for i := 0; i < probes; i++ {
			seq := b.seq.Add(1)
			if _, err := b.wsCreate.create("probe " + strconv.FormatInt(seq, 10)); err != nil {
				return err
			}
			select {
			case ev := <-b.probes:
				frameSum += ev.Wire
				frameN++
			case <-time.After(b.o.msgTimeout):
				return fmt.Errorf("probe create %d: no event on ircbench's own subscription within %s", seq, b.o.msgTimeout)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := sleepCtx(ctx, 500*time.Millisecond); err != nil { // the daemon's copy trails ours
			return err
		}
		after, err := rxBytes(ctx, b.directusPort)
		if err != nil {
			return err
		}
		for p := range daemonPorts {
			if d := after[p] - before[p]; d > 0 {
				active[p]++
				streamBytes += d
			}
		}
	}
	b.rep.add(fmt.Sprintf("directus_tcp_connections_N%d", n), fmt.Sprintf("Directus TCP conns, all (N=%d)", n), float64(len(conns)), "count")
	if rounds == 0 {
		return nil
	}
	stream := 0
	for _, k := range active {
		if k == rounds {
			stream++
		}
	}
	frame := float64(frameSum) / float64(frameN)
	perCreate := float64(streamBytes) / float64(rounds*probes)
	subs := perCreate / frame
	b.rep.target(fmt.Sprintf("directus_ws_connections_N%d", n), fmt.Sprintf("Directus WS conns (N=%d)", n), float64(stream), "count", "==", 1)
	b.rep.target(fmt.Sprintf("directus_subscriptions_N%d", n), fmt.Sprintf("Directus subscriptions (N=%d)", n), math.Round(subs), "count", "==", 1)
	b.rep.note("Directus cost at N=%d (%s): %d ESTABLISHED TCP connections daemon→Directus, %d of them carried subscription events; "+
		"%.0f bytes received per create ÷ %.0f-byte event frame = %.2f subscriptions; the rest are idle HTTP keep-alive connections of the REST client",
		n, what, len(conns), stream, perCreate, frame, subs)
	return nil
}

// ---------------------------------------------------------------- latency

// latency measures, in alternating blocks on the same Directus:
//   - bridge: IRC A PRIVMSG → daemon → Directus (REST create) → daemon → IRC B, and A's
//     PONG to a PING sent right after the PRIVMSG (the daemon's acknowledgement);
//   - direct (the floor): Directus WebSocket create → another subscribed WebSocket client's
//     create event, and the creator's own `items` reply;
//   - rest: a REST create as the daemon makes it (same kind of token, same fields), from
//     ircbench: the part of the bridge path that is Directus's.
func (b *bench) latency(ctx context.Context) error {
	o := b.o
	var err error
	latAck := make(chan hit, 64)
	b.latA, err = dialIRC(ctx, o.ircAddr, "latency sender", "token:"+b.tokens["Benchlat"], "benchlat", func(msg *ircmsg.Message, at time.Time) {
		if msg.Command != "PONG" || len(msg.Params) == 0 {
			return
		}
		if rest, ok := strings.CutPrefix(msg.Params[len(msg.Params)-1], "lat"); ok {
			if n, err := strconv.ParseInt(rest, 10, 64); err == nil {
				select {
				case latAck <- hit{n, at}:
				default:
				}
			}
		}
	})
	if err != nil {
		return err
	}
	b.latB, err = dialIRC(ctx, o.ircAddr, "latency receiver", "", "latrecv", func(msg *ircmsg.Message, at time.Time) {
		if msg.Command != "PRIVMSG" || len(msg.Params) < 2 {
			return
		}
		if rest, ok := strings.CutPrefix(msg.Params[1], "lat "); ok {
			if n, err := strconv.ParseInt(rest, 10, 64); err == nil {
				select {
				case b.latRecv <- hit{n, at}:
				default:
				}
			}
		}
	})
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	total := o.latWarmup + o.latMsgs
	var bridge, bridgeAck, direct, directAck, rest sample
	lost := map[string]int{}
	b.log.Printf("latency: %d+%d messages per path, blocks of %d, alternating", o.latWarmup, o.latMsgs, o.latBlock)
	done := map[string]int{}
	// one runs message i of path: returns the main latency and the acknowledgement latency.
	paths := []struct {
		name string
		one  func(seq int64) (time.Duration, time.Duration, bool, error)
	}{
		{"bridge", func(seq int64) (time.Duration, time.Duration, bool, error) {
			s := strconv.FormatInt(seq, 10)
			t0 := time.Now()
			if err := b.latA.writeString("PRIVMSG " + channel + " :lat " + s + "\r\nPING :lat" + s + "\r\n"); err != nil {
				return 0, 0, false, err
			}
			at, ok, err := waitHit(ctx, b.latRecv, seq, o.msgTimeout)
			if err != nil || !ok {
				return 0, 0, false, err
			}
			ackAt, ok, err := waitHit(ctx, latAck, seq, o.msgTimeout)
			if err != nil || !ok {
				return 0, 0, false, err
			}
			// Directus re-reads the item for each subscription after replying; wait for the
			// last subscriber (ircbench's) as the direct path does, so each message starts
			// with Directus idle.
			if _, _, err := waitHit(ctx, b.subSeen, seq, o.msgTimeout); err != nil {
				return 0, 0, false, err
			}
			return at.Sub(t0), ackAt.Sub(t0), true, nil
		}},
		{"direct", func(seq int64) (time.Duration, time.Duration, bool, error) {
			t0 := time.Now()
			ch, err := b.wsCreate.create("dlat " + strconv.FormatInt(seq, 10))
			if err != nil {
				return 0, 0, false, err
			}
			at, ok, err := waitHit(ctx, b.dlat, seq, o.msgTimeout)
			if err != nil || !ok {
				return 0, 0, false, err
			}
			f, err := b.wsCreate.wait(ctx, ch)
			if err != nil {
				return 0, 0, false, err
			}
			if err := f.err(); err != nil {
				return 0, 0, false, err
			}
			return at.Sub(t0), f.At.Sub(t0), true, nil
		}},
		{"rest", func(seq int64) (time.Duration, time.Duration, bool, error) {
			t0 := time.Now()
			if err := restCreate(ctx, hc, o.directusURL, b.tokens["Benchlat"], "rlat "+strconv.FormatInt(seq, 10)); err != nil {
				return 0, 0, false, err
			}
			d := time.Since(t0)
			if _, _, err := waitHit(ctx, b.subSeen, seq, o.msgTimeout); err != nil {
				return 0, 0, false, err
			}
			return d, d, true, nil
		}},
	}
	for done["bridge"] < total || done["direct"] < total || done["rest"] < total {
		for _, p := range paths {
			for i := 0; i < o.latBlock && done[p.name] < total; i++ {
				d, ack, ok, err := p.one(b.seq.Add(1))
				if err != nil {
					return fmt.Errorf("latency (%s): %w", p.name, err)
				}
				if done[p.name] >= o.latWarmup {
					switch {
					case !ok:
						lost[p.name]++
					case p.name == "bridge":
						bridge, bridgeAck = append(bridge, d), append(bridgeAck, ack)
					case p.name == "direct":
						direct, directAck = append(direct, d), append(directAck, ack)
					default:
						rest = append(rest, d)
					}
				}
				done[p.name]++
			}
		}
	}
	bridge, bridgeAck, direct, directAck, rest = bridge.sorted(), bridgeAck.sorted(), direct.sorted(), directAck.sorted(), rest.sorted()
	addPcts := func(name, label string, s sample, target map[float64]float64) {
		for _, p := range []struct {
			q   float64
			suf string
		}{{50, "p50"}, {90, "p90"}, {99, "p99"}, {100, "max"}} {
			v := s.pct(p.q)
			if t, ok := target[p.q]; ok {
				b.rep.target(name+"_"+p.suf+"_ms", label+" "+p.suf, v, "ms", "<=", round(t, 3))
			} else {
				b.rep.add(name+"_"+p.suf+"_ms", label+" "+p.suf, v, "ms")
			}
		}
	}
	addPcts("latency_bridge", "latency IRC A→daemon→Directus→daemon→IRC B", bridge,
		map[float64]float64{50: direct.pct(50), 99: 1.1 * direct.pct(99)})
	addPcts("latency_direct", "latency Directus WS create→other WS client's event", direct, nil)
	b.rep.target("latency_ratio_p50", "latency ratio bridge÷direct p50", bridge.pct(50)/direct.pct(50), "ratio", "<=", 1.0)
	b.rep.target("latency_ratio_p99", "latency ratio bridge÷direct p99", bridge.pct(99)/direct.pct(99), "ratio", "<=", 1.1)
	b.rep.target("latency_lost", "latency messages lost (all paths)", float64(lost["bridge"]+lost["direct"]+lost["rest"]), "count", "==", 0)
	for _, x := range []struct {
		name, label string
		s           sample
	}{
		{"latency_bridge_ack", "breakdown: IRC PRIVMSG→daemon's PONG (ack)", bridgeAck},
		{"latency_rest_create", "breakdown: REST create round trip (as the daemon)", rest},
		{"latency_ws_create", "breakdown: WS create→creator's items reply", directAck},
	} {
		b.rep.add(x.name+"_p50_ms", x.label+" p50", x.s.pct(50), "ms")
		b.rep.add(x.name+"_p99_ms", x.label+" p99", x.s.pct(99), "ms")
	}
	b.rep.note("latency: %d measured messages per path after %d warm-ups, alternating blocks of %d (bridge, direct, rest); lost: bridge %d, direct %d, rest %d",
		o.latMsgs, o.latWarmup, o.latBlock, lost["bridge"], lost["direct"], lost["rest"])
	b.rep.note("latency breakdown (p50): bridge %.1f ms = REST create %.1f ms + daemon and IRC hops %.1f ms; direct floor %.1f ms = WS create reply %.1f ms + event delivery %.1f ms",
		bridge.pct(50), rest.pct(50), bridge.pct(50)-rest.pct(50), direct.pct(50), directAck.pct(50), direct.pct(50)-directAck.pct(50))
	b.log.Printf("latency: bridge p50 %.1f p99 %.1f ms, direct p50 %.1f p99 %.1f ms, REST create p50 %.1f ms",
		bridge.pct(50), bridge.pct(99), direct.pct(50), direct.pct(99), rest.pct(50))
	return nil
}

// waitHit waits for seq on ch, skipping late arrivals of earlier messages.
func waitHit(ctx context.Context, ch chan hit, seq int64, timeout time.Duration) (time.Time, bool, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case h := <-ch:
			if h.seq == seq {
				return h.at, true, nil
			}
		case <-t.C:
			return time.Time{}, false, nil
		case <-ctx.Done():
			return time.Time{}, false, ctx.Err()
		}
	}
}

// ---------------------------------------------------------------- throughput

// throughput compares creates acknowledged per second through IRC (K logged-in clients, each
// with one PRIVMSG+PING in flight) with direct WebSocket creates (K connections, one create in
// flight each), in alternating blocks.
func (b *bench) throughput(ctx context.Context) error {
	o := b.o
	k := len(b.senders)
	direct := make([]*wsClient, 0, k)
	defer func() {
		for _, w := range direct {
			w.Close()
		}
	}()
	for i := 1; i <= k; i++ {
		name := fmt.Sprintf("Benchtp%02d", i)
		w, err := dialWS(ctx, o.directusURL, "tp"+strconv.Itoa(i), b.tokens[name], nil)
		if err != nil {
			return err
		}
		direct = append(direct, w)
	}
	const warm = 500 * time.Millisecond
	var ircN, dirN, ircEv, dirEv, ircErr int64
	var dirErr atomic.Int64
	var total time.Duration
	b.log.Printf("throughput: %d blocks × %s per path, %d parallel clients each", o.tpBlocks, o.tpDuration, k)
	var cpu [2]struct{ daemon, directus, bench float64 } // per path: IRC, direct
	measure := func(path int, f func() error) error {
		d0, x0, b0 := procCPU(o.pid), procCPU(o.directusPID), selfCPU()
		err := f()
		cpu[path].daemon += procCPU(o.pid) - d0
		cpu[path].directus += procCPU(o.directusPID) - x0
		cpu[path].bench += selfCPU() - b0
		return err
	}
	for blk := 0; blk < o.tpBlocks; blk++ {
		var n, ev int64
		err := measure(0, func() (err error) {
			n, ev, err = b.tpBlock(ctx, warm, func(i int, stop func() bool, count func()) error {
				s := b.senders[i]
				for !stop() {
					seq := strconv.FormatInt(b.seq.Add(1), 10)
					if err := s.c.writeString("PRIVMSG " + channel + " :tp " + seq + "\r\nPING :tp" + seq + "\r\n"); err != nil {
						return err
					}
					select {
					case <-s.pong:
						count()
					case <-s.c.done:
						return fmt.Errorf("IRC sender %s disconnected: %s", s.c.name, s.c.errorText())
					case <-time.After(30 * time.Second):
						return fmt.Errorf("IRC sender %s: no PONG within 30 s", s.c.name)
					}
				}
				return nil
			}, &b.tpEv)
			return err
		})
		if err != nil {
			return fmt.Errorf("throughput (IRC): %w", err)
		}
		ircN, ircEv = ircN+n, ircEv+ev
		err = measure(1, func() (err error) {
			n, ev, err = b.tpBlock(ctx, warm, func(i int, stop func() bool, count func()) error {
				w := direct[i]
				for !stop() {
					ch, err := w.create("dtp " + strconv.FormatInt(b.seq.Add(1), 10))
					if err != nil {
						return err
					}
					f, err := w.wait(ctx, ch)
					if err != nil {
						return err
					}
					if f.err() != nil {
						dirErr.Add(1)
						t := f.err().Error()
						w.lastErr.Store(&t)
					}
					count()
				}
				return nil
			}, &b.dtpEv)
			return err
		})
		if err != nil {
			return fmt.Errorf("throughput (direct): %w", err)
		}
		dirN, dirEv = dirN+n, dirEv+ev
		total += o.tpDuration
	}
	for _, s := range b.senders {
		ircErr += s.errs.Swap(0)
		if t := s.lastErr.Load(); t != nil {
			b.rep.note("throughput: IRC sender %s got %q", s.c.name, *t)
		}
	}
	sec := total.Seconds()
	ircRate, dirRate := float64(ircN)/sec, float64(dirN)/sec
	b.rep.add("throughput_irc_per_s", fmt.Sprintf("creates/s via IRC (%d clients)", k), ircRate, "per_s")
	b.rep.add("throughput_direct_per_s", fmt.Sprintf("creates/s direct WS (%d clients)", k), dirRate, "per_s")
	b.rep.target("throughput_ratio", "throughput ratio IRC÷direct", ircRate/dirRate, "ratio", ">=", 0.9)
	b.rep.note("throughput: acknowledged creates in %s per path (IRC: PONG after PRIVMSG; direct: items reply); "+
		"events seen by a subscriber in the same windows: IRC %.0f/s, direct %.0f/s; refusals: IRC %d, direct %d",
		total, float64(ircEv)/sec, float64(dirEv)/sec, ircErr, dirErr.Load())
	// CPU per acknowledged create (the blocks also do the warm-up and the drain, so this is
	// an upper bound, alike for both paths).
	b.rep.note("throughput CPU per create: IRC path: Directus %.2f ms, daemon %.2f ms, ircbench %.2f ms; direct path: Directus %.2f ms, ircbench %.2f ms",
		1000*cpu[0].directus/float64(ircN), 1000*cpu[0].daemon/float64(ircN), 1000*cpu[0].bench/float64(ircN),
		1000*cpu[1].directus/float64(dirN), 1000*cpu[1].bench/float64(dirN))
	for _, w := range direct {
		if t := w.lastErr.Load(); t != nil {
			b.rep.note("throughput: direct client %s got %q", w.name, *t)
			break
		}
	}
	b.log.Printf("throughput: IRC %.0f/s, direct %.0f/s", ircRate, dirRate)
	return nil
}

// tpBlock runs worker(i) for every client until warm+duration is over, counting the
// acknowledgements that fall inside the window after warm, and the subscription events
// (evCounter) that arrive in it. It returns when every worker has its last reply.
func (b *bench) tpBlock(ctx context.Context, warm time.Duration, worker func(i int, stop func() bool, count func()) error,
	evCounter *atomic.Int64) (n, events int64, err error) {
	k := len(b.senders)
	start := time.Now()
	from, to := start.Add(warm), start.Add(warm+b.o.tpDuration)
	var cnt atomic.Int64
	var wg sync.WaitGroup
	errCh := make(chan error, k)
	stop := func() bool { return ctx.Err() != nil || time.Now().After(to) }
	count := func() {
		if at := time.Now(); !at.Before(from) && !at.After(to) {
			cnt.Add(1)
		}
	}
	for i := 0; i < k; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := worker(i, stop, count); err != nil {
				errCh <- err
			}
		}()
	}
	_ = sleepCtx(ctx, time.Until(from))
	ev0 := evCounter.Load()
	_ = sleepCtx(ctx, time.Until(to))
	ev1 := evCounter.Load()
	wg.Wait()
	close(errCh)
	for e := range errCh {
		return 0, 0, e
	}
	if err := sleepCtx(ctx, 300*time.Millisecond); err != nil { // let the last events pass
		return 0, 0, err
	}
	return cnt.Load(), ev1 - ev0, ctx.Err()
}

// ---------------------------------------------------------------- fan-out and memory

// recorder takes fan-out receipts from the receivers' reader goroutines.
type recorder struct {
	step    atomic.Pointer[fanStep]
	outside atomic.Int64 // receipts of messages not in the current step
}

// fanStep is one fan-out size: msgs messages to receivers 0..n-1.
type fanStep struct {
	n, msgs int
	base    int64          // sequence number of message 0
	recv    []atomic.Int64 // [m*n+idx]: unix ns of receipt, 0 if none
	count   []atomic.Int32
	expect  []atomic.Int32
	full    []chan struct{}
	sent    []time.Time
	clockAt []atomic.Int64 // unix ns when the event clock (served before the daemon) got it
}

func (r *recorder) record(idx int, seq int64, at time.Time) {
	st := r.step.Load()
	if st == nil {
		r.outside.Add(1)
		return
	}
	m := seq - st.base
	if m < 0 || m >= int64(st.msgs) || idx >= st.n {
		r.outside.Add(1)
		return
	}
	if !st.recv[int(m)*st.n+idx].CompareAndSwap(0, at.UnixNano()) {
		return // a second copy: the receiver counted it as doubled
	}
	if st.count[m].Add(1) == st.expect[m].Load() {
		close(st.full[m])
	}
}

// fanout grows the number of joined guests through the sizes; at each size it reads the
// daemon's RSS (idle, joined), counts Directus connections where asked, then sends messages
// directly to Directus one at a time and times their arrival at every receiver.
func (b *bench) fanout(ctx context.Context) error {
	o := b.o
	if err := b.warmDirectus(ctx, o.fanWarmCreates); err != nil {
		return err
	}
	var rss0 int64
	if o.pid != 0 {
		if err := sleepCtx(ctx, o.settle); err != nil {
			return err
		}
		var err error
		if rss0, err = steadyRSS(ctx, o.pid, 5, 400*time.Millisecond); err != nil {
			return fmt.Errorf("daemon RSS: %w", err)
		}
		b.log.Printf("daemon RSS before fan-out clients: %d KiB", rss0)
	}
	others := len(b.senders)
	if b.latA != nil {
		others += 2
	}
	for _, n := range o.fanSizes {
		u0 := takeUsage(o.pid, o.directusPID)
		failed, err := b.connectReceivers(ctx, n)
		if err != nil {
			return err
		}
		b.rep.note("resources, fan-out N=%d connect and join: %s", n, u0.since(o.pid, o.directusPID))
		joined := 0
		for _, rc := range b.receivers[:n] {
			if rc.alive() {
				joined++
			}
		}
		b.rep.target(fmt.Sprintf("fanout_N%d_connect_failures", n), fmt.Sprintf("fan-out N=%d clients not joined", n), float64(n-joined), "count", "==", 0)
		if failed > 0 || joined < n {
			b.rep.note("fan-out N=%d: %d of %d guests joined (%d dial failures)", n, joined, n, failed)
		}
		if joined == 0 {
			return fmt.Errorf("fan-out N=%d: no IRC client could join", n)
		}
		if o.pid != 0 {
			if err := sleepCtx(ctx, o.settle); err != nil {
				return err
			}
			rss, err := steadyRSS(ctx, o.pid, 5, 400*time.Millisecond)
			if err != nil {
				return fmt.Errorf("daemon RSS: %w", err)
			}
			per := float64(rss-rss0) / float64(joined)
			name := fmt.Sprintf("memory_per_conn_kib_N%d", n)
			label := fmt.Sprintf("daemon RSS per idle joined conn (N=%d)", n)
			if n >= 1000 {
				b.rep.target(name, label, per, "KiB", "<=", 32)
			} else {
				b.rep.add(name, label, per, "KiB")
			}
			b.rep.note("memory N=%d: daemon RSS %d KiB before the fan-out clients, %d KiB with %d more joined (median of 5 readings after %s idle)",
				n, rss0, rss, joined, o.settle)
			b.log.Printf("fan-out N=%d: RSS %d KiB (%.1f KiB per connection)", n, rss, per)
		}
		if o.costSizes[n] && o.phases["cost"] {
			if err := b.directusCost(ctx, n, fmt.Sprintf("%d idle guests plus %d logged-in/other clients", joined, others)); err != nil {
				return err
			}
		}
		u1 := takeUsage(o.pid, o.directusPID)
		if err := b.fanoutRounds(ctx, n, others); err != nil {
			return err
		}
		b.rep.note("resources, fan-out N=%d messages: %s", n, u1.since(o.pid, o.directusPID))
	}
	return nil
}

// warmDirectus makes n direct creates, a few at a time, before anything is timed: fan-out
// is the first timed phase, and a Directus that has just started runs its first hundreds of
// requests unoptimised (several times its usual CPU per create), which would load the two
// cores that the fan-out shares with it.
func (b *bench) warmDirectus(ctx context.Context, n int) error {
	if n <= 0 {
		return nil
	}
	u0 := takeUsage(b.o.pid, b.o.directusPID)
	const inFlight = 4
	var replies []chan wsFrame
	for i := 0; i < n; i++ {
		ch, err := b.wsCreate.create("warm " + strconv.Itoa(i))
		if err != nil {
			return fmt.Errorf("warm-up create: %w", err)
		}
		replies = append(replies, ch)
		if len(replies) == inFlight {
			if _, err := b.wsCreate.wait(ctx, replies[0]); err != nil {
				return fmt.Errorf("warm-up create: %w", err)
			}
			replies = replies[1:]
		}
	}
	for _, ch := range replies {
		if _, err := b.wsCreate.wait(ctx, ch); err != nil {
			return fmt.Errorf("warm-up create: %w", err)
		}
	}
	b.rep.note("Directus warm-up: %d direct creates before the fan-out: %s", n, u0.since(b.o.pid, b.o.directusPID))
	return nil
}

// connectReceivers dials guests until there are upto of them, at -connect-rate with at most
// -max-inflight still registering, and waits until they have joined (or failed).
func (b *bench) connectReceivers(ctx context.Context, upto int) (failed int, err error) {
	o := b.o
	from := len(b.receivers)
	if from >= upto {
		return 0, nil
	}
	if b.poll == nil {
		if b.poll, err = newReceiverPoll(o.fanSizes[len(o.fanSizes)-1], &b.rec); err != nil {
			return 0, fmt.Errorf("fan-out: %w", err)
		}
	}
	b.log.Printf("fan-out: connecting guests %d..%d at %.0f/s", from+1, upto, o.connectRate)
	start := time.Now()
	interval := time.Duration(float64(time.Second) / o.connectRate)
	sem := make(chan struct{}, o.maxInflight)
	var wg sync.WaitGroup
	next := time.Now()
	for idx := from; idx < upto; idx++ {
		if d := time.Until(next); d > 0 {
			if err := sleepCtx(ctx, d); err != nil {
				return failed, err
			}
		}
		next = next.Add(interval)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return failed, ctx.Err()
		}
		var rc *receiver
		for attempt := 1; ; attempt++ {
			rc, err = b.poll.dial(ctx, o.ircAddr, idx)
			if err == nil {
				break
			}
			failed++
			if attempt == 4 || ctx.Err() != nil {
				break
			}
			_ = sleepCtx(ctx, 200*time.Millisecond)
		}
		if err != nil {
			<-sem
			return failed, fmt.Errorf("fan-out: cannot connect IRC client %d: %w", idx, err)
		}
		b.receivers = append(b.receivers, rc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			select {
			case <-rc.joined:
			case <-rc.done:
			case <-time.After(120 * time.Second):
			}
		}()
	}
	wg.Wait()
	b.log.Printf("fan-out: %d guests connected in %.1f s", upto, time.Since(start).Seconds())
	return failed, ctx.Err()
}

func (b *bench) closeReceivers() {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, rc := range b.receivers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			rc.Close()
			<-sem
		}()
	}
	wg.Wait()
	b.receivers = nil
	if b.poll != nil {
		b.poll.Close()
		b.poll = nil
	}
}

// fanoutRounds sends warm-up+measured messages, one at a time, each directly to Directus,
// and waits until every live receiver among the first n has it.
func (b *bench) fanoutRounds(ctx context.Context, n, others int) (err error) {
	o := b.o
	// ircbench's direct receiver is unsubscribed meanwhile: the scenario is one create and
	// the daemon's fan-out, and its re-read and frames would only load the shared cores.
	b.closeDirect()
	defer func() {
		if rerr := b.openDirect(ctx); err == nil {
			err = rerr
		}
	}()
	msgs := o.fanWarmup + o.fanMsgs
	st := &fanStep{n: n, msgs: msgs,
		recv: make([]atomic.Int64, msgs*n), count: make([]atomic.Int32, msgs), expect: make([]atomic.Int32, msgs),
		full: make([]chan struct{}, msgs), sent: make([]time.Time, msgs),
		clockAt: make([]atomic.Int64, msgs)}
	for i := range st.full {
		st.full[i] = make(chan struct{})
	}
	st.base = b.seq.Add(int64(msgs)) - int64(msgs) + 1
	dup0, ooo0 := b.receiverCounters(n)
	out0 := b.rec.outside.Load()
	b.rec.step.Store(st)
	b.log.Printf("fan-out N=%d: %d+%d messages", n, o.fanWarmup, o.fanMsgs)
	timeouts := 0
	var replies []chan wsFrame
	for m := 0; m < msgs; m++ {
		live := 0
		for _, rc := range b.receivers[:n] {
			if rc.alive() {
				live++
			}
		}
		st.expect[m].Store(int32(live))
		if live == 0 {
			close(st.full[m])
		}
		st.sent[m] = time.Now()
		// The reply asks for the id only: the scenario is Directus's event, not the reply.
		ch, err := b.wsCreate.createWith("fo "+strconv.FormatInt(st.base+int64(m), 10), []string{"id"})
		if err != nil {
			return fmt.Errorf("fan-out create: %w", err)
		}
		replies = append(replies, ch)
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
	if err := sleepCtx(ctx, time.Second); err != nil { // late receipts still count, with their time
		return err
	}
	createErrs := 0
	for _, ch := range replies {
		select {
		case f := <-ch:
			if f.err() != nil {
				createErrs++
			}
		default:
		}
	}
	// Times from the create (as ircbench sent it) and from the Directus event (as the event
	// clock received it; Directus serves the clock first, then re-reads the item for the
	// daemon, so these include that re-read and are an upper bound for the daemon's share).
	var receipts, slowest, evReceipts, evSlowest, toEvent, evFirst, spread sample
	lost, noClock := 0, 0
	var trace io.Writer
	if o.traceFile != "" {
		f, err := os.OpenFile(o.traceFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("-fanout-trace: %w", err)
		}
		defer f.Close()
		bw := bufio.NewWriter(f)
		defer bw.Flush()
		trace = bw
	}
	for m := 0; m < msgs; m++ {
		var worst time.Duration
		best := time.Duration(math.MaxInt64)
		got := 0
		sent := st.sent[m].UnixNano()
		clock := st.clockAt[m].Load()
		measured := m >= o.fanWarmup
		for i := 0; i < n; i++ {
			v := st.recv[m*n+i].Load()
			if v == 0 {
				continue
			}
			got++
			d := time.Duration(v - sent)
			worst, best = max(worst, d), min(best, d)
			if measured {
				receipts = append(receipts, d)
				if clock != 0 {
					evReceipts = append(evReceipts, time.Duration(v-clock))
				}
			}
		}
		lost += max(0, int(st.expect[m].Load())-got)
		if !measured || got == 0 {
			continue
		}
		slowest = append(slowest, worst)
		spread = append(spread, worst-best)
		if trace != nil {
			evMs, firstMs := "", ""
			if clock != 0 {
				evMs, firstMs = fmt.Sprintf("%.2f", ms(time.Duration(clock-sent))), fmt.Sprintf("%.2f", ms(best-time.Duration(clock-sent)))
			}
			fmt.Fprintf(trace, "%d,%d,%s,%s,%.2f\n", n, m, evMs, firstMs, ms(worst-best))
		}
		if clock != 0 {
			ev := time.Duration(clock - sent)
			toEvent = append(toEvent, ev)
			evSlowest = append(evSlowest, worst-ev)
			evFirst = append(evFirst, best-ev)
		} else {
			noClock++
		}
	}
	dup1, ooo1 := b.receiverCounters(n)
	outside := b.rec.outside.Load() - out0
	for _, x := range []*sample{&receipts, &slowest, &evReceipts, &evSlowest, &toEvent, &evFirst, &spread} {
		*x = x.sorted()
	}
	pre := fmt.Sprintf("fanout_N%d_", n)
	lbl := fmt.Sprintf("fan-out N=%d ", n)
	b.rep.add(pre+"receipt_p50_ms", lbl+"per receipt from the create, p50", receipts.pct(50), "ms")
	b.rep.add(pre+"receipt_p99_ms", lbl+"per receipt from the create, p99", receipts.pct(99), "ms")
	b.rep.add(pre+"slowest_p50_ms", lbl+"slowest receiver from the create, p50", slowest.pct(50), "ms")
	b.rep.add(pre+"slowest_p99_ms", lbl+"slowest receiver from the create, p99", slowest.pct(99), "ms")
	b.rep.add(pre+"slowest_max_ms", lbl+"slowest receiver from the create, max", slowest.max(), "ms")
	b.rep.add(pre+"event_receipt_p50_ms", lbl+"per receipt from the Directus event, p50", evReceipts.pct(50), "ms")
	b.rep.add(pre+"event_receipt_p99_ms", lbl+"per receipt from the Directus event, p99", evReceipts.pct(99), "ms")
	b.rep.add(pre+"event_slowest_p50_ms", lbl+"slowest receiver from the Directus event, p50", evSlowest.pct(50), "ms")
	evLabel := lbl + "slowest receiver from the Directus event, p99"
	switch target := map[int]float64{1000: 25, 5000: 100}[n]; {
	case !b.clockFirst:
		b.rep.add(pre+"event_slowest_p99_ms", evLabel+" (clock not first: not comparable)", evSlowest.pct(99), "ms")
	case target > 0:
		b.rep.target(pre+"event_slowest_p99_ms", evLabel, evSlowest.pct(99), "ms", "<=", target)
	default:
		b.rep.add(pre+"event_slowest_p99_ms", evLabel, evSlowest.pct(99), "ms")
	}
	b.rep.add(pre+"event_slowest_max_ms", lbl+"slowest receiver from the Directus event, max", evSlowest.max(), "ms")
	b.rep.add(pre+"to_event_p50_ms", lbl+"breakdown: create→Directus event p50", toEvent.pct(50), "ms")
	b.rep.add(pre+"to_event_p99_ms", lbl+"breakdown: create→Directus event p99", toEvent.pct(99), "ms")
	b.rep.add(pre+"event_first_p50_ms", lbl+"breakdown: event→first IRC receipt p50", evFirst.pct(50), "ms")
	b.rep.add(pre+"event_first_p99_ms", lbl+"breakdown: event→first IRC receipt p99", evFirst.pct(99), "ms")
	b.rep.add(pre+"spread_p50_ms", lbl+"breakdown: first→last IRC receipt p50", spread.pct(50), "ms")
	b.rep.add(pre+"spread_p99_ms", lbl+"breakdown: first→last IRC receipt p99", spread.pct(99), "ms")
	if noClock > 0 {
		b.rep.note("fan-out N=%d: the event clock missed %d measured messages; they are left out of the from-event figures", n, noClock)
	}
	b.rep.target(pre+"lost", lbl+"messages lost", float64(lost), "count", "==", 0)
	b.rep.target(pre+"doubled", lbl+"messages doubled", float64(dup1-dup0+outside), "count", "==", 0)
	b.rep.target(pre+"out_of_order", lbl+"messages out of order", float64(ooo1-ooo0), "count", "==", 0)
	b.rep.note("fan-out N=%d: %d measured messages after %d warm-ups, created over Directus WebSocket one at a time; "+
		"%d other IRC clients also joined; %d rounds timed out (%s); %d create errors; %d receipts outside the step; "+
		"Directus had two subscriptions to serve: the event clock's, then the daemon's",
		n, o.fanMsgs, o.fanWarmup, others, timeouts, o.msgTimeout, createErrs, outside)
	b.log.Printf("fan-out N=%d: slowest from the event p50 %.1f p99 %.1f ms, from the create p99 %.1f ms, lost %d",
		n, evSlowest.pct(50), evSlowest.pct(99), slowest.pct(99), lost)
	if dead := n - b.liveReceivers(n); dead > 0 {
		reason := ""
		for _, rc := range b.receivers[:n] {
			if p := rc.err.Load(); p != nil && !rc.alive() {
				reason = *p
				break
			}
		}
		b.rep.note("fan-out N=%d: %d receivers disconnected (e.g. %q)", n, dead, reason)
	}
	return nil
}

func (b *bench) receiverCounters(n int) (dup, ooo int64) {
	for _, rc := range b.receivers[:n] {
		dup += rc.dup.Load()
		ooo += rc.ooo.Load()
	}
	return dup, ooo
}

func (b *bench) liveReceivers(n int) int {
	live := 0
	for _, rc := range b.receivers[:n] {
		if rc.alive() {
			live++
		}
	}
	return live
}
