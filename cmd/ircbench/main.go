// Command ircbench measures a running directus-ircd against the Directus it bridges:
// latency next to the Directus WebSocket floor, fan-out to many IRC clients, daemon memory
// per idle connection, create throughput next to direct WebSocket creates, and the Directus
// connections and subscriptions the daemon holds. `make bench` (dev/bench.sh) starts a
// private Directus and daemon and runs it; see docs/PERFORMANCE.md.
//
// It prints a table and one JSON line per figure. It exits non-zero only when the harness
// itself fails (cannot log in, connect, or set up); a missed target is reported as
// "met":false with exit status 0.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

type options struct {
	ircAddr       string
	directusURL   string
	adminEmail    string
	adminPassword string
	pid           int
	pidFile       string
	readyFile     string
	traceFile     string
	readyURL      string
	directusPID   int
	quick         bool
	phases        map[string]bool

	latMsgs, latWarmup, latBlock int

	tpSenders  int
	tpBlocks   int
	tpDuration time.Duration

	fanSizes       []int
	fanMsgs        int
	fanWarmup      int
	fanGap         time.Duration
	fanWarmCreates int
	connectRate    float64
	maxInflight    int
	costSizes      map[int]bool

	settle     time.Duration
	msgTimeout time.Duration
	timeout    time.Duration
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("ircbench", flag.ContinueOnError)
	fs.StringVar(&o.ircAddr, "irc", "127.0.0.1:6667", "daemon IRC address (loopback)")
	fs.StringVar(&o.directusURL, "directus", "http://127.0.0.1:8055", "Directus base URL (loopback)")
	fs.StringVar(&o.adminEmail, "admin-email", envOr("DIRECTUS_ADMIN_EMAIL", "admin@example.com"), "Directus admin email (env DIRECTUS_ADMIN_EMAIL)")
	fs.StringVar(&o.adminPassword, "admin-password", envOr("DIRECTUS_ADMIN_PASSWORD", "adminpass"), "Directus admin password (env DIRECTUS_ADMIN_PASSWORD)")
	fs.IntVar(&o.pid, "pid", 0, "daemon process id, for RSS and its Directus connections (0: those figures are skipped)")
	fs.StringVar(&o.pidFile, "pid-file", "", "file holding the daemon's process id, read once the daemon answers (instead of -pid)")
	fs.StringVar(&o.readyFile, "ready-file", "", "written once ircbench's event clock is subscribed; start the daemon after it, so that Directus "+
		"serves the clock before the daemon and fan-out can be timed from the Directus event (ircbench then waits up to 60 s for the daemon)")
	fs.StringVar(&o.readyURL, "daemon-ready-url", "", "the daemon's health /readyz URL (loopback): wait until its subscription is live before "+
		"subscribing ircbench's direct receiver, so that Directus serves the daemon first, as in a deployment")
	fs.StringVar(&o.traceFile, "fanout-trace", "", "fan-out: append one CSV line per message to this file "+
		"(N, message, create→event, event→first receipt, first→last receipt, ms; empty when the clock missed it)")
	fs.IntVar(&o.directusPID, "directus-pid", 0, "Directus (node) process id, for its CPU use per phase (optional)")
	fs.BoolVar(&o.quick, "quick", false, "short run (fan-out up to 1,000 clients, about 1-2 minutes)")
	phases := fs.String("phases", "cost,latency,throughput,fanout", "comma-separated phases to run: cost, latency, throughput, fanout (fanout includes memory)")
	fs.IntVar(&o.latMsgs, "lat-msgs", 1000, "latency: measured messages per path (quick: 200)")
	fs.IntVar(&o.latWarmup, "lat-warmup", 20, "latency: discarded warm-up messages per path")
	fs.IntVar(&o.latBlock, "lat-block", 10, "latency: messages per block; blocks of the paths (bridge, direct, rest) alternate")
	fs.IntVar(&o.tpSenders, "tp-senders", 10, "throughput: parallel IRC senders and parallel direct WebSocket clients (also the N of the first Directus-cost figure)")
	fs.IntVar(&o.tpBlocks, "tp-blocks", 4, "throughput: blocks per path, alternating (quick: 2)")
	fs.DurationVar(&o.tpDuration, "tp-duration", 8*time.Second, "throughput: counted time per block (quick: 4s)")
	sizes := fs.String("fanout-sizes", "100,1000,5000", "fan-out: numbers of joined IRC clients, ascending (quick: 100,1000)")
	fs.IntVar(&o.fanMsgs, "fanout-msgs", 200, "fan-out: measured messages per size (quick: 40)")
	fs.IntVar(&o.fanWarmup, "fanout-warmup", 3, "fan-out: warm-up messages per size (checked for loss, not timed)")
	fs.DurationVar(&o.fanGap, "fanout-gap", 20*time.Millisecond, "fan-out: pause after every client got a message")
	fs.IntVar(&o.fanWarmCreates, "fanout-warm-creates", 400, "fan-out: untimed direct creates that warm Directus up first (quick: 100)")
	fs.Float64Var(&o.connectRate, "connect-rate", 250, "fan-out: new IRC connections per second (quick: 400)")
	fs.IntVar(&o.maxInflight, "max-inflight", 200, "fan-out: connections still registering/joining at once")
	cost := fs.String("cost-sizes", "1000", "fan-out sizes at which the daemon's Directus connections are counted again")
	fs.DurationVar(&o.settle, "settle", 5*time.Second, "idle time before an RSS reading (quick: 3s)")
	fs.DurationVar(&o.msgTimeout, "msg-timeout", 5*time.Second, "give up waiting for one message after this")
	fs.DurationVar(&o.timeout, "timeout", 14*time.Minute, "whole run limit (quick: 5m)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		quickInt := func(name string, p *int, v int) {
			if !set[name] {
				*p = v
			}
		}
		quickInt("lat-msgs", &o.latMsgs, 200)
		quickInt("tp-blocks", &o.tpBlocks, 2)
		quickInt("fanout-msgs", &o.fanMsgs, 40)
		quickInt("fanout-warm-creates", &o.fanWarmCreates, 100)
		if !set["tp-duration"] {
			o.tpDuration = 4 * time.Second
		}
		if !set["fanout-sizes"] {
			*sizes = "100,1000"
		}
		if !set["connect-rate"] {
			o.connectRate = 400
		}
		if !set["settle"] {
			o.settle = 3 * time.Second
		}
		if !set["timeout"] {
			o.timeout = 5 * time.Minute
		}
	}
	o.phases = map[string]bool{}
	for _, p := range strings.Split(*phases, ",") {
		p = strings.TrimSpace(p)
		switch p {
		case "cost", "latency", "throughput", "fanout":
			o.phases[p] = true
		case "":
		default:
			return o, fmt.Errorf("unknown phase %q", p)
		}
	}
	var err error
	if o.fanSizes, err = intList(*sizes); err != nil {
		return o, fmt.Errorf("-fanout-sizes: %w", err)
	}
	for i := 1; i < len(o.fanSizes); i++ {
		if o.fanSizes[i] <= o.fanSizes[i-1] {
			return o, errors.New("-fanout-sizes must be ascending")
		}
	}
	cs, err := intList(*cost)
	if err != nil {
		return o, fmt.Errorf("-cost-sizes: %w", err)
	}
	o.costSizes = map[int]bool{}
	for _, n := range cs {
		o.costSizes[n] = true
	}
	if o.latMsgs < 1 || o.latBlock < 1 || o.tpSenders < 1 || o.tpBlocks < 1 || o.fanMsgs < 1 ||
		o.connectRate <= 0 || o.maxInflight < 1 || o.tpDuration <= 0 || o.msgTimeout <= 0 {
		return o, errors.New("counts, rates and durations must be positive")
	}
	return o, nil
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ReplaceAll(f, "_", ""))
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func main() {
	os.Exit(realMain())
}

func realMain() int {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "ircbench:", err)
		return 2
	}
	lg := log.New(os.Stderr, "ircbench: ", log.Ltime|log.Lmicroseconds)
	if n, err := raiseNofile(); err != nil {
		lg.Printf("cannot raise the open-files limit: %v", err)
	} else {
		lg.Printf("open-files limit %d", n)
	}
	// ircbench holds thousands of connections on two shared cores: trade memory for less GC.
	debug.SetGCPercent(400)

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		if s, ok := <-sig; ok {
			lg.Printf("%s: stopping", s)
			cancel()
		}
	}()

	b := &bench{o: o, rep: &report{}, log: lg}
	runErr := b.run(ctx)
	b.closeAll()
	b.rep.print(os.Stdout)
	if runErr != nil {
		if errors.Is(runErr, context.DeadlineExceeded) {
			runErr = fmt.Errorf("%w (whole-run limit -timeout %s)", runErr, o.timeout)
		}
		fmt.Fprintln(os.Stderr, "ircbench: harness failure:", runErr)
		return 1
	}
	return 0
}

// raiseNofile raises the soft open-files limit to the hard limit.
func raiseNofile() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, err
		}
	}
	return rl.Cur, nil
}

// bench is one run: the Directus users and connections it made and what it measured.
type bench struct {
	o   options
	rep *report
	log *log.Logger

	adm          *admin
	directusPort int
	tokens       map[string]string // first name → static token

	wsCreate   *wsClient // creates for the direct paths, probes and fan-out (user Benchws)
	wsSub      *wsClient // subscribed like the daemon: the direct receiver (user Benchws)
	wsClock    *wsClient // subscribed before the daemon (with -ready-file): when Directus emits an event
	clockFirst bool      // wsClock was subscribed before the daemon started
	seq        atomic.Int64

	// routing of wsSub's events
	dlat    chan hit
	subSeen chan hit // "lat"/"rlat" events at the direct subscriber: Directus is done with that create
	probes  chan wsEvent
	tpEv    atomic.Int64 // "tp " events (creates made through IRC)
	dtpEv   atomic.Int64 // "dtp " events (direct creates)
	latRecv chan hit

	senders   []*tpSender
	latA      *ircClient
	latB      *ircClient
	rec       recorder
	receivers []*receiver
	poll      *receiverPoll // reads the receivers; nil until the first is dialled
}

type hit struct {
	seq int64
	at  time.Time
}

func (b *bench) run(ctx context.Context) error {
	b.rep.add("loadavg_1m_start", "load average (1 min) at start", loadAvg1(), "load")
	defer func() { b.rep.add("loadavg_1m_end", "load average (1 min) at end", loadAvg1(), "load") }()
	if err := b.setup(ctx); err != nil {
		return err
	}
	o := b.o // after setup, which may have read the daemon's pid
	if o.phases["cost"] || o.phases["throughput"] {
		if err := b.connectSenders(ctx); err != nil {
			return err
		}
	}
	phase := func(name string, f func(context.Context) error) error {
		u0 := takeUsage(o.pid, o.directusPID)
		err := f(ctx)
		b.rep.note("resources, %s: %s", name, u0.since(o.pid, o.directusPID))
		return err
	}
	if o.phases["cost"] {
		err := phase("Directus cost N=10", func(ctx context.Context) error {
			return b.directusCost(ctx, len(b.senders), fmt.Sprintf("%d logged-in IRC users (static tokens), idle", len(b.senders)))
		})
		if err != nil {
			return err
		}
	}
	// Fan-out runs before latency and throughput: it needs the event clock, which Directus
	// serves before the daemon's subscription; the other phases run without it, so that the
	// daemon's subscription is the first again, as in a deployment without ircbench.
	if o.phases["fanout"] {
		if err := phase("fan-out and memory", b.fanout); err != nil {
			return err
		}
		b.closeReceivers()
	}
	if b.wsClock != nil {
		b.wsClock.Close()
		b.wsClock = nil
	}
	if o.phases["latency"] {
		if err := phase("latency", b.latency); err != nil {
			return err
		}
	}
	if o.phases["throughput"] {
		if err := phase("throughput", b.throughput); err != nil {
			return err
		}
	}
	return nil
}

// setup logs in as admin, creates the bench users with fresh static tokens, checks that the
// daemon answers, and opens the two direct WebSocket connections.
func (b *bench) setup(ctx context.Context) error {
	o := b.o
	u, err := parseLoopbackURL(o.directusURL)
	if err != nil {
		return err
	}
	b.directusPort = u
	if err := checkLoopbackAddr(o.ircAddr); err != nil {
		return err
	}
	b.adm = newAdmin(o.directusURL)
	b.log.Printf("admin login to %s", o.directusURL)
	if err := b.adm.login(ctx, o.adminEmail, o.adminPassword); err != nil {
		return err
	}
	role, err := b.adm.roleID(ctx, "IRC Users") // provision.DefaultRoleName
	if err != nil {
		return err
	}
	names := []string{"Benchlat", "Benchws"}
	for i := 1; i <= o.tpSenders; i++ {
		names = append(names, fmt.Sprintf("Benchtp%02d", i))
	}
	b.tokens = map[string]string{}
	for _, n := range names {
		tok := "ircbench-" + strings.ToLower(n) + "-" + randomHex(12)
		if _, err := b.adm.ensureUser(ctx, role, strings.ToLower(n)+"@ircbench.example.com", n, tok); err != nil {
			return fmt.Errorf("bench user %s: %w", n, err)
		}
		b.tokens[n] = tok
	}
	b.log.Printf("%d bench users ready (static tokens)", len(names))

	b.dlat = make(chan hit, 64)
	b.subSeen = make(chan hit, 64)
	b.probes = make(chan wsEvent, 64)
	b.latRecv = make(chan hit, 64)
	// The event clock asks for the text only, so that Directus's re-read for it is as cheap
	// as it can be; it is closed after the fan-out phase.
	b.wsClock, err = dialWS(ctx, o.directusURL, "clock", b.tokens["Benchws"], b.onClockEvent)
	if err != nil {
		return err
	}
	if err := b.wsClock.subscribe(ctx, []string{"text"}); err != nil {
		return err
	}
	b.wsCreate, err = dialWS(ctx, o.directusURL, "create", b.tokens["Benchws"], nil)
	if err != nil {
		return err
	}
	if o.readyFile != "" {
		if err := os.WriteFile(o.readyFile, []byte("subscribed\n"), 0o644); err != nil {
			return fmt.Errorf("-ready-file: %w", err)
		}
		b.clockFirst = true
		b.log.Printf("event clock subscribed; waiting for the daemon at %s", o.ircAddr)
	}
	if err := b.waitDaemon(ctx); err != nil {
		return err
	}
	return b.openDirect(ctx)
}

// openDirect connects and subscribes ircbench's direct receiver. It subscribes after the
// daemon, as a web page would: Directus serves subscriptions in the order they were made.
func (b *bench) openDirect(ctx context.Context) error {
	w, err := dialWS(ctx, b.o.directusURL, "sub", b.tokens["Benchws"], b.onSubEvent)
	if err != nil {
		return err
	}
	if err := w.subscribe(ctx, itemFields); err != nil {
		w.Close()
		return err
	}
	b.wsSub = w
	return nil
}

// closeDirect closes the direct receiver's connection, which ends its subscription.
func (b *bench) closeDirect() {
	if b.wsSub != nil {
		b.wsSub.Close()
		b.wsSub = nil
	}
}

// waitDaemon waits until a guest can join the channel (up to 60 s when ircbench started
// first), then reads the daemon's pid from -pid-file.
func (b *bench) waitDaemon(ctx context.Context) error {
	o := b.o
	deadline := time.Now()
	if o.readyFile != "" {
		deadline = deadline.Add(60 * time.Second)
	}
	for {
		c, err := dialIRC(ctx, o.ircAddr, "probe", "", "benchprobe", nil)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("daemon at %s: %w", o.ircAddr, err)
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	if o.readyURL != "" {
		if err := waitReady(ctx, o.readyURL, deadline.Add(30*time.Second)); err != nil {
			return err
		}
	}
	if o.pidFile == "" {
		return nil
	}
	raw, err := os.ReadFile(o.pidFile)
	if err != nil {
		return fmt.Errorf("-pid-file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		return fmt.Errorf("-pid-file %s: not a process id: %q", o.pidFile, excerpt(raw, 40))
	}
	b.o.pid = pid
	return nil
}

// waitReady polls the daemon's /readyz until it answers 200 (its Directus subscription is
// live) or deadline passes.
func waitReady(ctx context.Context, url string, deadline time.Time) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("daemon not ready at %s: %w", url, err)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// onClockEvent records when Directus emitted a fan-out message (reader goroutine).
func (b *bench) onClockEvent(ev wsEvent) {
	for _, it := range ev.Items {
		if kind, rest, _ := strings.Cut(it.Text, " "); kind == "fo" {
			if n, err := strconv.ParseInt(rest, 10, 64); err == nil {
				if st := b.rec.step.Load(); st != nil {
					if m := n - st.base; m >= 0 && m < int64(st.msgs) {
						st.clockAt[m].CompareAndSwap(0, ev.At.UnixNano())
					}
				}
			}
		}
	}
}

// onSubEvent routes the direct subscriber's create events (reader goroutine: no blocking).
func (b *bench) onSubEvent(ev wsEvent) {
	for _, it := range ev.Items {
		kind, rest, _ := strings.Cut(it.Text, " ")
		switch kind {
		case "dlat":
			if n, err := strconv.ParseInt(rest, 10, 64); err == nil {
				select {
				case b.dlat <- hit{n, ev.At}:
				default:
				}
			}
		case "lat", "rlat":
			if n, err := strconv.ParseInt(rest, 10, 64); err == nil {
				select {
				case b.subSeen <- hit{n, ev.At}:
				default:
				}
			}
		case "probe":
			select {
			case b.probes <- ev:
			default:
			}
		case "tp":
			b.tpEv.Add(1)
		case "dtp":
			b.dtpEv.Add(1)
		}
	}
}

func (b *bench) closeAll() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.closeReceivers()
		for _, s := range b.senders {
			s.c.Close()
		}
		for _, c := range []*ircClient{b.latA, b.latB} {
			if c != nil {
				c.Close()
			}
		}
		for _, w := range []*wsClient{b.wsCreate, b.wsSub, b.wsClock} {
			if w != nil {
				w.Close()
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.log.Printf("closing connections took over 30 s; exiting anyway")
	}
}

func randomHex(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	return hex.EncodeToString(buf)
}
