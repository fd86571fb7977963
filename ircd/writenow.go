package ircd

import (
	"net"
	"syscall"

	sysunix "golang.org/x/sys/unix"
)

// A fan-out to thousands of idle connections spends most of its time waking one writer
// goroutine per connection. When a connection's queue is empty and nothing is being written
// to it, the line is instead written by the delivering goroutine with one non-blocking write:
// on loopback and on a healthy network the socket buffer takes it whole. Whatever the kernel
// does not take (or an error) goes back to the queue, and the writer goroutine carries on as
// before, with its deadline and error handling.

// rawConn is conn's raw socket when it has one (TCP, Unix); nil otherwise (net.Pipe, TLS),
// which leaves every write to the writer goroutine.
func rawConn(conn net.Conn) syscall.RawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// writeNow makes one non-blocking attempt to write lines and returns what is left unwritten
// (a partial line is returned as its tail). It never waits for the socket.
func writeNow(raw syscall.RawConn, lines [][]byte) [][]byte {
	var n int
	var werr error
	err := raw.Write(func(fd uintptr) bool {
		if len(lines) == 1 {
			n, werr = syscall.Write(int(fd), lines[0])
		} else {
			n, werr = sysunix.Writev(int(fd), lines)
		}
		return true // one attempt: never wait for writability here
	})
	if err != nil || werr != nil || n < 0 {
		// EAGAIN: the socket is full. Any other error: the writer goroutine's own write
		// reports it and closes the connection.
		n = 0
	}
	for len(lines) > 0 && n >= len(lines[0]) {
		n -= len(lines[0])
		lines = lines[1:]
	}
	if len(lines) == 0 {
		return nil
	}
	rest := make([][]byte, len(lines))
	copy(rest, lines) // lines may be shared with other recipients: never modify it
	rest[0] = rest[0][n:]
	return rest
}
