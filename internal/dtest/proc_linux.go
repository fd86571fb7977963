package dtest

import (
	"os/exec"
	"runtime"
	"syscall"
)

// startChild starts cmd so that the kernel kills it if the test binary dies
// without running its cleanups (a timeout, SIGKILL, a closed output pipe).
// Pdeathsig fires when the forking OS thread exits, so the fork happens on a
// locked thread that stays alive until the child has exited.
func startChild(cmd *exec.Cmd) (wait func() error, err error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error)
	exited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return func() error { return <-exited }, nil
}
