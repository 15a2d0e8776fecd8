package kubewatch

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// tracker counts, for each deployment (by Deployment.Key), the pods running it, and queues an
// observation when the count leaves or reaches zero. The informers call it from their own
// goroutines; deliver drains the queue.
type tracker struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	pods    map[string]map[string]evidence.Deployment // pod "namespace/name" → its deployments by key
	running map[string]int                            // deployment key → pods running it
	current map[string]evidence.Deployment            // deployment key → the last one queued as observed
	pending []evidence.Deployment                     // observations not yet delivered
	wake    chan struct{}                             // signalled when pending grows
}

func newTracker(cfg Config, log *slog.Logger) *tracker {
	return &tracker{
		cfg:     cfg,
		log:     log,
		now:     time.Now,
		pods:    map[string]map[string]evidence.Deployment{},
		running: map[string]int{},
		current: map[string]evidence.Deployment{},
		wake:    make(chan struct{}, 1),
	}
}

// podChanged records the deployments a pod runs after an add, update or resync.
func (t *tracker) podChanged(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		t.log.Warn("pod informer delivered an unexpected object", "type", fmt.Sprintf("%T", obj))
		return
	}
	key, err := cache.MetaNamespaceKeyFunc(p)
	if err != nil {
		t.log.Warn("pod without a key", "err", err)
		return
	}
	t.set(key, deployments(p, t.cfg, t.now(), t.log))
}

// podDeleted forgets a deleted pod; obj may be a tombstone.
func (t *tracker) podDeleted(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		t.log.Warn("deleted pod without a key", "err", err)
		return
	}
	t.set(key, nil)
}

// set replaces what pod runs with deps, queueing an ended observation for each deployment no
// pod runs any more and an observation for each deployment that starts running or whose team
// changed.
func (t *tracker) set(pod string, deps map[string]evidence.Deployment) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var batch []evidence.Deployment
	old := t.pods[pod]
	for k := range old {
		if _, still := deps[k]; still {
			continue
		}
		t.running[k]--
		if t.running[k] > 0 {
			continue
		}
		d := t.current[k]
		delete(t.running, k)
		delete(t.current, k)
		// The ending is itself an observation, made now: the deployment store keeps the record
		// with the latest ObservedAt, so an older one would be ignored.
		end := now
		d.ObservedAt, d.EndedAt = now, &end
		batch = append(batch, d)
	}
	for k, d := range deps {
		if _, had := old[k]; !had {
			t.running[k]++
		}
		if cur, ok := t.current[k]; !ok || cur.Team != d.Team {
			t.current[k] = d
			batch = append(batch, d)
		}
	}
	if len(deps) == 0 {
		delete(t.pods, pod)
	} else {
		t.pods[pod] = deps
	}
	if len(batch) == 0 {
		return
	}
	// Ended first, so a pod moving from one digest to another reads in order.
	slices.SortStableFunc(batch, func(a, b evidence.Deployment) int {
		switch {
		case a.Ended() == b.Ended():
			return 0
		case a.Ended():
			return -1
		}
		return 1
	})
	t.pending = merge(t.pending, batch)
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// size returns the number of deployments running.
func (t *tracker) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.current)
}

// take removes and returns the pending observations.
func (t *tracker) take() []evidence.Deployment {
	t.mu.Lock()
	defer t.mu.Unlock()
	batch := t.pending
	t.pending = nil
	return batch
}

// putBack returns an undelivered batch to the front of the queue; observations queued since
// supersede those of the same deployment in it.
func (t *tracker) putBack(batch []evidence.Deployment) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending = merge(batch, t.pending)
}

// deliver hands pending observations to emit until ctx is done, retrying a rejected batch with
// exponential backoff.
func (t *tracker) deliver(ctx context.Context, emit Emit) {
	backoff := minBackoff
	var retry <-chan time.Time
	// Anything queued before delivery started is waiting already.
	select {
	case t.wake <- struct{}{}:
	default:
	}
	for {
		wake := t.wake
		if retry != nil {
			wake = nil // wait out the backoff
		}
		select {
		case <-ctx.Done():
			if n := len(t.take()); n > 0 {
				t.log.Warn("stopping with undelivered deployment observations", "count", n)
			}
			return
		case <-wake:
		case <-retry:
		}
		retry = nil
		batch := t.take()
		if len(batch) == 0 {
			continue
		}
		if err := emit(ctx, slices.Clone(batch)); err != nil {
			t.putBack(batch)
			if ctx.Err() != nil {
				continue
			}
			t.log.Warn("cannot deliver deployment observations; retrying", "count", len(batch), "in", backoff, "err", err)
			retry = time.After(backoff)
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		t.log.Debug("deployment observations delivered", "count", len(batch))
		backoff = minBackoff
	}
}

// merge appends newer to older; an observation in newer replaces one of the same deployment in
// older, so the queue stays bounded by the number of distinct deployments.
func merge(older, newer []evidence.Deployment) []evidence.Deployment {
	if len(older) == 0 {
		return newer
	}
	replaced := make(map[string]bool, len(newer))
	for _, d := range newer {
		replaced[d.Key()] = true
	}
	out := slices.DeleteFunc(older, func(d evidence.Deployment) bool { return replaced[d.Key()] })
	return append(out, newer...)
}
