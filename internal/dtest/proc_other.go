//go:build !linux

package dtest

import "os/exec"

// startChild starts cmd. Outside Linux a Directus outlives a test binary
// that dies without running its cleanups.
func startChild(cmd *exec.Cmd) (wait func() error, err error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd.Wait, nil
}
