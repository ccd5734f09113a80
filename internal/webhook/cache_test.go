package webhook

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/testenv"
)

func TestCacheTTLs(t *testing.T) {
	clock := testenv.NewClock(time.Unix(1_700_000_000, 0))
	src := &fakeAssociations{has: map[string]bool{"default/app": true}}
	c := NewCache(src, 10*time.Second, 2*time.Second, clock.Now)
	ctx := context.Background()
	ask := func(ns, sa string, want bool, wantCalls int64) {
		t.Helper()
		got, err := c.HasAssociation(ctx, ns, sa)
		if err != nil || got != want {
			t.Fatalf("HasAssociation(%s, %s) = %v, %v; want %v", ns, sa, got, err, want)
		}
		if n := src.calls.Load(); n != wantCalls {
			t.Fatalf("after HasAssociation(%s, %s): %d lookups, want %d", ns, sa, n, wantCalls)
		}
	}
	ask("default", "app", true, 1)
	ask("default", "app", true, 1) // cached
	ask("default", "other", false, 2)
	ask("default", "other", false, 2) // cached

	// The association appears: "no" is forgotten after the negative TTL.
	src.mu.Lock()
	src.has["default/other"] = true
	src.mu.Unlock()
	clock.Advance(2 * time.Second)
	ask("default", "other", true, 3)

	// "yes" lasts the positive TTL.
	clock.Advance(7 * time.Second)
	ask("default", "app", true, 3)
	clock.Advance(time.Second)
	ask("default", "app", true, 4)
}

func TestCacheDoesNotKeepErrors(t *testing.T) {
	src := &fakeAssociations{err: errors.New("down")}
	c := NewCache(src, time.Minute, time.Minute, nil)
	for i := range 2 {
		if _, err := c.HasAssociation(context.Background(), "default", "app"); err == nil {
			t.Fatalf("call %d: no error", i)
		}
	}
	src.mu.Lock()
	src.err = nil
	src.mu.Unlock()
	if _, err := c.HasAssociation(context.Background(), "default", "app"); err != nil {
		t.Fatal(err)
	}
	if n := src.calls.Load(); n != 3 {
		t.Errorf("%d lookups, want 3", n)
	}
}

// blockingAssociations holds every lookup until released.
type blockingAssociations struct {
	fakeAssociations
	release chan struct{}
}

func (b *blockingAssociations) HasAssociation(ctx context.Context, ns, sa string) (bool, error) {
	<-b.release
	return b.fakeAssociations.HasAssociation(ctx, ns, sa)
}

func TestCacheSharesConcurrentLookups(t *testing.T) {
	src := &blockingAssociations{fakeAssociations: fakeAssociations{has: map[string]bool{"default/app": true}}, release: make(chan struct{})}
	c := NewCache(src, time.Minute, time.Minute, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			has, err := c.HasAssociation(context.Background(), "default", "app")
			if err == nil && !has {
				err = errors.New("has = false")
			}
			errs <- err
		})
	}
	time.Sleep(50 * time.Millisecond) // let them all queue on the one lookup
	close(src.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := src.calls.Load(); n != 1 {
		t.Errorf("%d lookups for 20 concurrent callers, want 1", n)
	}
}

// A caller that gives up does not fail the others waiting on its lookup.
func TestCacheCallerCancellation(t *testing.T) {
	src := &blockingAssociations{fakeAssociations: fakeAssociations{has: map[string]bool{"default/app": true}}, release: make(chan struct{})}
	c := NewCache(src, time.Minute, time.Minute, nil)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := c.HasAssociation(ctx, "default", "app")
		first <- err
	}()
	time.Sleep(20 * time.Millisecond)
	second := make(chan bool, 1)
	go func() {
		has, _ := c.HasAssociation(context.Background(), "default", "app")
		second <- has
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v", err)
	}
	close(src.release)
	if !<-second {
		t.Error("the second caller did not get the answer")
	}
}
