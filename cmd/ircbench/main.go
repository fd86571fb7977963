// Command ircbench drives load scenarios against a running directus-ircd and the Directus it
// bridges, and states every target as a ratio measured in the same run: latency and
// throughput against the direct Directus path, fan-out against its own scaling. What the
// daemon knows (RSS, Directus connections and subscriptions, deliveries, its fan-out time)
// is read from its /metrics. `make bench` (dev/bench.sh) starts a private Directus and daemon
// and runs it; see docs/PERFORMANCE.md.
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
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/directus-ircd/directus-ircd/directus"
	"github.com/directus-ircd/directus-ircd/internal/metrics"
)

const channel = "#chat"

// itemFields is the query of the daemon's subscription and creates (bridge/item.go): the
// direct path asks for the same, so that Directus does the same re-read work on both paths.
var itemFields = []string{"id", "text", "date_created", "irc_nick", "irc_key", "user_created"}

type options struct {
	ircAddr, directusURL, health string
	adminEmail, adminPassword    string
	readyFile, traceFile         string
	quick                        bool
	phases                       map[string]bool

	latMsgs, latWarmup, latBlock int
	tpSenders, tpBlocks          int
	tpDuration                   time.Duration

	fanSizes                       []int
	fanMsgs, fanWarmup, fanWarmups int
	fanGap                         time.Duration
	connectRate                    float64
	maxInflight                    int

	settle, msgTimeout, timeout time.Duration
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("ircbench", flag.ContinueOnError)
	fs.StringVar(&o.ircAddr, "irc", "127.0.0.1:6667", "daemon IRC address (loopback)")
	fs.StringVar(&o.directusURL, "directus", "http://127.0.0.1:8055", "Directus base URL (loopback)")
	fs.StringVar(&o.health, "health", "http://127.0.0.1:8081", "the daemon's health listener: /readyz is awaited and /metrics read "+
		"(RSS, CPU, Directus connections and subscriptions, deliveries)")
	fs.StringVar(&o.adminEmail, "admin-email", envOr("DIRECTUS_ADMIN_EMAIL", "admin@example.com"), "Directus admin email (env DIRECTUS_ADMIN_EMAIL)")
	fs.StringVar(&o.adminPassword, "admin-password", envOr("DIRECTUS_ADMIN_PASSWORD", "adminpass"), "Directus admin password (env DIRECTUS_ADMIN_PASSWORD)")
	fs.StringVar(&o.readyFile, "ready-file", "", "written once ircbench's event clock is subscribed; start the daemon after it, so that Directus "+
		"serves the clock first and fan-out can be timed from the Directus event (ircbench then waits up to 60 s for the daemon)")
	fs.StringVar(&o.traceFile, "fanout-trace", "", "fan-out: append one CSV line per message (N, message, create→event, event→first, first→last, ms)")
	fs.BoolVar(&o.quick, "quick", false, "short run (fan-out up to 1,000 clients, about 2 minutes)")
	phases := fs.String("phases", "cost,latency,throughput,fanout", "phases to run: cost, latency, throughput, fanout (fanout includes memory)")
	fs.IntVar(&o.latMsgs, "lat-msgs", 1000, "latency: measured messages per path (quick: 200)")
	fs.IntVar(&o.latWarmup, "lat-warmup", 20, "latency: discarded warm-up messages per path")
	fs.IntVar(&o.latBlock, "lat-block", 10, "latency: messages per block; the paths' blocks alternate")
	fs.IntVar(&o.tpSenders, "tp-senders", 10, "throughput: parallel IRC senders and direct WebSocket clients (the N of the first cost figure)")
	fs.IntVar(&o.tpBlocks, "tp-blocks", 4, "throughput: blocks per path, alternating (quick: 2)")
	fs.DurationVar(&o.tpDuration, "tp-duration", 8*time.Second, "throughput: counted time per block (quick: 4s)")
	sizes := fs.String("fanout-sizes", "100,1000,5000", "fan-out: numbers of joined guests, ascending (quick: 100,1000)")
	fs.IntVar(&o.fanMsgs, "fanout-msgs", 200, "fan-out: measured messages per size (quick: 40)")
	fs.IntVar(&o.fanWarmup, "fanout-warmup", 3, "fan-out: warm-up messages per size (checked for loss, not timed)")
	fs.IntVar(&o.fanWarmups, "fanout-warm-creates", 400, "fan-out: untimed creates that warm Directus up first (quick: 100)")
	fs.DurationVar(&o.fanGap, "fanout-gap", 20*time.Millisecond, "fan-out: pause after every guest got a message")
	fs.Float64Var(&o.connectRate, "connect-rate", 250, "fan-out: new IRC connections per second (quick: 400)")
	fs.IntVar(&o.maxInflight, "max-inflight", 200, "fan-out: connections still registering at once")
	fs.DurationVar(&o.settle, "settle", 5*time.Second, "idle time before an RSS reading (quick: 3s)")
	fs.DurationVar(&o.msgTimeout, "msg-timeout", 5*time.Second, "give up waiting for one message after this")
	fs.DurationVar(&o.timeout, "timeout", 14*time.Minute, "whole run limit (quick: 5m)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]string{"lat-msgs": "200", "tp-blocks": "2", "fanout-msgs": "40", "fanout-warm-creates": "100",
			"tp-duration": "4s", "fanout-sizes": "100,1000", "connect-rate": "400", "settle": "3s", "timeout": "5m"} {
			if !set[name] {
				_ = fs.Set(name, v)
			}
		}
	}
	o.phases = map[string]bool{}
	for _, p := range strings.Split(*phases, ",") {
		switch p = strings.TrimSpace(p); p {
		case "cost", "latency", "throughput", "fanout":
			o.phases[p] = true
		case "":
		default:
			return o, fmt.Errorf("unknown phase %q", p)
		}
	}
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(f), "_", ""))
		if err != nil || n < 1 || (len(o.fanSizes) > 0 && n <= o.fanSizes[len(o.fanSizes)-1]) {
			return o, fmt.Errorf("-fanout-sizes: %q: want positive numbers, ascending", *sizes)
		}
		o.fanSizes = append(o.fanSizes, n)
	}
	if o.latMsgs < 1 || o.latBlock < 1 || o.tpSenders < 1 || o.tpBlocks < 1 || o.fanMsgs < 1 ||
		o.connectRate <= 0 || o.maxInflight < 1 || o.tpDuration <= 0 || o.msgTimeout <= 0 {
		return o, errors.New("counts, rates and durations must be positive")
	}
	for _, a := range []string{o.ircAddr, o.directusURL, o.health} {
		if err := checkLoopback(a); err != nil {
			return o, err
		}
	}
	return o, nil
}

// checkLoopback refuses anything but loopback (an address or a URL): ircbench opens
// thousands of connections.
func checkLoopback(s string) error {
	host := s
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		host = u.Host
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if ip := net.ParseIP(host); s != "" && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s is not a loopback address; ircbench only runs against 127.0.0.1", s)
	}
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "ircbench:", err)
		os.Exit(2)
	}
	// Thousands of connections on two shared cores: trade memory for less GC.
	debug.SetGCPercent(400)
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	b := &bench{o: o, rep: &report{}, log: log.New(os.Stderr, "ircbench: ", log.Ltime|log.Lmicroseconds)}
	err = b.run(ctx)
	b.close()
	b.rep.print(os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ircbench: harness failure:", err)
		os.Exit(1)
	}
}

// bench is one run: its Directus users and connections, and what it measured.
type bench struct {
	o   options
	rep *report
	log *log.Logger

	dc       *directus.Client
	tokens   map[string]string // first name → static token
	wsCreate *directus.Conn    // creates of the direct paths and the fan-out (user Benchws)
	wsSub    *directus.Conn    // subscribed like the daemon, after it: the direct receiver
	wsClock  *directus.Conn    // subscribed before the daemon: when Directus emits an event
	subHits  chan hit          // the direct receiver's create events
	clock    atomic.Pointer[fanStep]
	seq      atomic.Int64

	senders []*ircClient // logged-in, idle until the throughput phase
	poll    *receiverPoll
	floor   [2]float64  // direct latency p50, p99 (ms), for the fan-out ratios
	fanRes  []fanResult // per fan-out size, for the ratios
}

// hit is one event of a bench message: its kind ("lat", "dlat", "fo"…), number and arrival.
type hit struct {
	kind string
	seq  int64
	at   time.Time
}

func (b *bench) run(ctx context.Context) error {
	b.rep.add("loadavg_1m_start", "load average (1 min) at start", loadAvg1(), "load")
	defer func() {
		// Also after a harness failure: a client the daemon dropped is a likely cause.
		if drops := b.metric("directus_ircd_sendq_drops_total"); !math.IsNaN(drops) {
			b.rep.target("sendq_drops", "IRC clients the daemon dropped for SendQ exceeded", drops, "count", "==", 0)
		}
		b.rep.add("loadavg_1m_end", "load average (1 min) at end", loadAvg1(), "load")
	}()
	if err := b.setup(ctx); err != nil {
		return err
	}
	o := b.o
	if o.phases["cost"] || o.phases["throughput"] {
		for i := 1; i <= o.tpSenders; i++ {
			name := fmt.Sprintf("Benchtp%02d", i)
			c, err := dialIRC(ctx, o.ircAddr, strings.ToLower(name), "token:"+b.tokens[name])
			if err != nil {
				return err
			}
			b.senders = append(b.senders, c)
		}
	}
	if o.phases["cost"] {
		if err := b.cost(ctx, len(b.senders), "logged-in IRC users, idle"); err != nil {
			return err
		}
	}
	// Latency and throughput run without the event clock, so that the daemon's subscription
	// is served first again, as in a deployment.
	if o.phases["fanout"] {
		if err := b.fanout(ctx); err != nil {
			return err
		}
	}
	b.wsClock.Close()
	if o.phases["latency"] {
		if err := b.phase(ctx, "latency", b.latency); err != nil {
			return err
		}
	}
	if o.phases["fanout"] {
		b.fanoutRatios()
	}
	if o.phases["throughput"] {
		return b.phase(ctx, "throughput", b.throughput)
	}
	return nil
}

// phase runs f and notes the CPU it cost the daemon (its /metrics) and ircbench.
func (b *bench) phase(ctx context.Context, name string, f func(context.Context) error) error {
	d0, s0 := b.metric("process_cpu_seconds_total"), selfCPU()
	err := f(ctx)
	b.rep.note("CPU, %s: daemon %.1f s, ircbench %.1f s", name, b.metric("process_cpu_seconds_total")-d0, selfCPU()-s0)
	return err
}

// setup makes the bench users with fresh static tokens, subscribes the event clock, waits
// for the daemon and subscribes the direct receiver after it.
func (b *bench) setup(ctx context.Context) error {
	o := b.o
	var err error
	if b.dc, err = directus.New(directus.Config{URL: o.directusURL, TokenCheck: -1}); err != nil {
		return err
	}
	adm, err := b.dc.Login(ctx, o.adminEmail, o.adminPassword)
	if err != nil {
		return fmt.Errorf("admin login: %w", err)
	}
	var roles []struct{ ID string }
	if err := b.dc.Do(ctx, adm.Access, "GET", "/roles?fields=id&filter[name][_eq]="+url.QueryEscape("IRC Users"), nil, &roles); err != nil || len(roles) == 0 {
		return fmt.Errorf("role IRC Users (run `directus-ircd setup` first): %v", err)
	}
	names := []string{"Benchlat", "Benchws"}
	for i := 1; i <= o.tpSenders; i++ {
		names = append(names, fmt.Sprintf("Benchtp%02d", i))
	}
	b.tokens = map[string]string{}
	for _, n := range names {
		tok := "ircbench-" + strings.ToLower(n) + "-" + randomHex(12)
		user := map[string]any{"email": strings.ToLower(n) + "@ircbench.example.com", "first_name": n, "role": roles[0].ID, "status": "active", "token": tok}
		var found []struct{ ID string }
		err := b.dc.Do(ctx, adm.Access, "GET", "/users?fields=id&filter[email][_eq]="+url.QueryEscape(user["email"].(string)), nil, &found)
		if err == nil && len(found) > 0 {
			err = b.dc.Do(ctx, adm.Access, "PATCH", "/users/"+found[0].ID, user, nil)
		} else if err == nil {
			err = b.dc.Do(ctx, adm.Access, "POST", "/users", user, nil)
		}
		if err != nil {
			return fmt.Errorf("bench user %s: %w", n, err)
		}
		b.tokens[n] = tok
	}
	// The event clock asks for the text only, so that Directus's re-read for it is cheap.
	if b.wsClock, err = b.subscribe(ctx, []string{"text"}, b.onClock); err != nil {
		return err
	}
	if b.wsCreate, err = b.dial(ctx, "Benchws"); err != nil {
		return err
	}
	if o.readyFile != "" {
		if err := os.WriteFile(o.readyFile, []byte("subscribed\n"), 0o644); err != nil {
			return err
		}
		b.log.Printf("event clock subscribed; waiting for the daemon at %s", o.ircAddr)
	}
	if err := b.waitDaemon(ctx); err != nil {
		return err
	}
	b.subHits = make(chan hit, 256)
	return b.openDirect(ctx)
}

func (b *bench) dial(ctx context.Context, user string) (*directus.Conn, error) {
	k, err := b.dc.Dial(ctx, directus.Credentials{StaticToken: b.tokens[user]})
	if err != nil {
		return nil, fmt.Errorf("directus websocket (%s): %w", user, err)
	}
	return k, nil
}

// subscribe opens a connection subscribed to message creates with fields and no history, and
// hands each event's text to on, stamped with its arrival, from one goroutine.
func (b *bench) subscribe(ctx context.Context, fields []string, on func(hit)) (*directus.Conn, error) {
	k, err := b.dial(ctx, "Benchws")
	if err != nil {
		return nil, err
	}
	sub, err := k.Subscribe(ctx, "messages", directus.Query{Fields: fields, Limit: new(0)})
	if err != nil {
		k.Close()
		return nil, err
	}
	go func() {
		for ev := range sub.Events() {
			at := time.Now()
			for _, it := range ev.Items {
				if h, ok := parseHit(it, at); ok && ev.Kind == directus.EventCreate {
					on(h)
				}
			}
		}
	}()
	return k, nil
}

// openDirect subscribes the direct receiver, after the daemon, as a web page would: Directus
// serves subscriptions in the order they were made.
func (b *bench) openDirect(ctx context.Context) (err error) {
	b.wsSub, err = b.subscribe(ctx, itemFields, func(h hit) {
		select {
		case b.subHits <- h:
		default: // throughput: nobody waits
		}
	})
	return err
}

// waitDaemon waits until the daemon's /readyz says its subscription is live (up to 60 s
// when ircbench started first).
func (b *bench) waitDaemon(ctx context.Context) error {
	deadline := time.Now()
	if b.o.readyFile != "" {
		deadline = deadline.Add(60 * time.Second)
	}
	for {
		resp, err := http.Get(b.o.health + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) || sleepCtx(ctx, 100*time.Millisecond) != nil {
			return fmt.Errorf("daemon not ready at %s/readyz: %v", b.o.health, err)
		}
	}
}

// scrape reads the daemon's /metrics (nil if it cannot).
func (b *bench) scrape() metrics.Values {
	resp, err := http.Get(b.o.health + "/metrics")
	if err != nil {
		b.log.Printf("metrics: %v", err)
		return nil
	}
	defer resp.Body.Close()
	v, err := metrics.Parse(resp.Body)
	if err != nil {
		b.log.Printf("metrics: %v", err)
	}
	return v
}

// metric is one series of a scrape, NaN when it is not there.
func (b *bench) metric(key string) float64 {
	if v, ok := b.scrape()[key]; ok {
		return v
	}
	return nan
}

// cost reports the Directus connections and subscriptions the daemon holds, from its metrics.
func (b *bench) cost(ctx context.Context, n int, what string) error {
	v := b.scrape()
	subs, conns := v["directus_ircd_directus_subscriptions"], v["directus_ircd_directus_connections"]
	b.rep.target(fmt.Sprintf("directus_subscriptions_N%d", n), fmt.Sprintf("Directus subscriptions (N=%d)", n), subs, "count", "==", 1)
	b.rep.target(fmt.Sprintf("directus_ws_connections_N%d", n), fmt.Sprintf("Directus WebSocket conns (N=%d)", n), conns, "count", "==", 1)
	b.rep.note("Directus cost at N=%d (%s): daemon's /metrics", n, what)
	return ctx.Err()
}

func (b *bench) close() {
	if b.poll != nil {
		b.poll.Close()
	}
	for _, c := range b.senders {
		c.Close()
	}
	for _, k := range []*directus.Conn{b.wsCreate, b.wsSub, b.wsClock} {
		if k != nil {
			k.Close()
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func randomHex(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	return hex.EncodeToString(buf)
}

// loadAvg1 is the 1-minute load average (NaN if unknown).
func loadAvg1() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(raw)); err == nil && len(f) > 0 {
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			return v
		}
	}
	return nan
}

// selfCPU is ircbench's user+system CPU time so far, in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
