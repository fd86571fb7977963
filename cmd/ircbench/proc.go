package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rssKiB is VmRSS of pid in KiB.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// steadyRSS samples the RSS n times, every, and returns the median (KiB).
func steadyRSS(ctx context.Context, pid, n int, every time.Duration) (int64, error) {
	var xs []int64
	for i := 0; i < n; i++ {
		if i > 0 {
			if err := sleepCtx(ctx, every); err != nil {
				return 0, err
			}
		}
		v, err := rssKiB(pid)
		if err != nil {
			return 0, err
		}
		xs = append(xs, v)
	}
	slices.Sort(xs)
	return xs[len(xs)/2], nil
}

// socketInodes are the inodes of pid's open sockets.
func socketInodes(pid int) (map[string]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range ents {
		t, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if in, ok := strings.CutPrefix(t, "socket:["); ok {
			out[strings.TrimSuffix(in, "]")] = true
		}
	}
	return out, nil
}

// tcpConn is one ESTABLISHED TCP connection of the daemon.
type tcpConn struct {
	localPort, remotePort int
}

// daemonConnsTo lists the ESTABLISHED TCP connections owned by pid whose remote port is
// port (Directus), from /proc/<pid>/net/tcp{,6} matched against the process's socket inodes.
func daemonConnsTo(pid, port int) ([]tcpConn, error) {
	inodes, err := socketInodes(pid)
	if err != nil {
		return nil, err
	}
	var out []tcpConn
	for _, f := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		first := true
		for sc.Scan() {
			if first {
				first = false
				continue
			}
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || fs[3] != "01" { // 01 = ESTABLISHED
				continue
			}
			if !inodes[fs[9]] {
				continue
			}
			lp, ok1 := hexPort(fs[1])
			rp, ok2 := hexPort(fs[2])
			if ok1 && ok2 && rp == port {
				out = append(out, tcpConn{localPort: lp, remotePort: rp})
			}
		}
	}
	return out, nil
}

func hexPort(addr string) (int, bool) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return 0, false
	}
	v, err := strconv.ParseUint(addr[i+1:], 16, 16)
	return int(v), err == nil
}

// rxBytes is bytes_received per local port of the ESTABLISHED TCP connections to 127.0.0.1:port,
// from `ss -tin` (the kernel's tcp_info). nil when ss is not available.
func rxBytes(ctx context.Context, port int) (map[int]int64, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, "ss", "-tinH", "state", "established",
		"dst", fmt.Sprintf("127.0.0.1:%d", port)).Output()
	if err != nil {
		return nil, fmt.Errorf("ss: %w", err)
	}
	res := map[int]int64{}
	cur := -1
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			// Recv-Q Send-Q Local:Port Peer:Port (state column omitted with a state filter)
			fs := strings.Fields(line)
			cur = -1
			for i, f := range fs {
				if i+1 < len(fs) && strings.Contains(f, ":") && strings.HasSuffix(fs[i+1], fmt.Sprintf(":%d", port)) {
					if p, err := strconv.Atoi(f[strings.LastIndexByte(f, ':')+1:]); err == nil {
						cur = p
					}
					break
				}
			}
			continue
		}
		if cur < 0 {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "bytes_received:"); ok {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					res[cur] = n
				}
			}
		}
	}
	return res, nil
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

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat (100 on Linux).
const clockTicks = 100

// procCPU is the user+system CPU time used by pid and its live descendants, in seconds
// (NaN when unknown). The Directus pid file may name a shell whose child is node.
func procCPU(pid int) float64 {
	if pid == 0 {
		return math.NaN()
	}
	total := oneCPU(pid)
	if math.IsNaN(total) {
		return total
	}
	seen := map[int]bool{pid: true}
	queue := []int{pid}
	for len(queue) > 0 && len(seen) < 1000 {
		p := queue[0]
		queue = queue[1:]
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", p))
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				c, err := strconv.Atoi(f)
				if err != nil || seen[c] {
					continue
				}
				seen[c] = true
				queue = append(queue, c)
				if v := oneCPU(c); !math.IsNaN(v) {
					total += v
				}
			}
		}
	}
	return total
}

func oneCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return math.NaN()
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may contain spaces
	if i < 0 {
		return math.NaN()
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return math.NaN()
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return math.NaN()
	}
	return (u + st) / clockTicks
}

func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return math.NaN()
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// loadAvg1 is the one-minute load average.
func loadAvg1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return math.NaN()
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// usage is a snapshot of wall time, CPU used by the daemon, Directus and ircbench, and load.
type usage struct {
	at                      time.Time
	daemon, directus, bench float64
	load                    float64
}

func takeUsage(daemonPID, directusPID int) usage {
	return usage{at: time.Now(), daemon: procCPU(daemonPID), directus: procCPU(directusPID), bench: selfCPU(), load: loadAvg1()}
}

// since describes the resources used from u0 to now.
func (u0 usage) since(daemonPID, directusPID int) string {
	u1 := takeUsage(daemonPID, directusPID)
	f := func(a, b float64) string {
		if math.IsNaN(a) || math.IsNaN(b) {
			return "?"
		}
		return fmt.Sprintf("%.1f s", b-a)
	}
	return fmt.Sprintf("%.1f s wall; CPU daemon %s, Directus %s, ircbench %s; load average (1 min) %.2f → %.2f",
		u1.at.Sub(u0.at).Seconds(), f(u0.daemon, u1.daemon), f(u0.directus, u1.directus), f(u0.bench, u1.bench), u0.load, u1.load)
}
