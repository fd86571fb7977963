package waitctx

import (
	"context"
	"errors"
	"sync"
	"testing"
)

func TestWait(t *testing.T) {
	var wg sync.WaitGroup
	if err := Wait(context.Background(), &wg); err != nil {
		t.Fatalf("empty group: %v", err)
	}

	wg.Add(1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Wait(ctx, &wg); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended context: %v, want context.Canceled", err)
	}

	release := make(chan struct{})
	go func() { <-release; wg.Done() }()
	close(release)
	if err := Wait(context.Background(), &wg); err != nil {
		t.Fatalf("after Done: %v", err)
	}
}
