// Package waitctx waits for a sync.WaitGroup with a deadline, the step every graceful
// shutdown in the daemon has (connections going quiet, accounts ending, goroutines exiting).
package waitctx

import (
	"context"
	"sync"
)

// Wait returns nil once wg's count is zero, or ctx's error if ctx ends first. The goroutine
// it starts to wait ends when wg does, so the caller must make sure wg ends (for example by
// cancelling what it counts once Wait has returned an error).
func Wait(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
