package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
