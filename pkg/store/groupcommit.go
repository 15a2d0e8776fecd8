package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// BatchWriter is a Writer that stores many evaluations at once more cheaply than one by one
// (ClickHouse: one insert per table instead of one per evaluation; SQLite: one transaction).
// WriteEvaluations has WriteEvaluation's contract for each evaluation; it is all or nothing
// only in that a failed call may have stored some of them, which writing them again completes.
type BatchWriter interface {
	WriteEvaluations(ctx context.Context, evs []Evaluation) error
}

// DefaultGroupCommit is how many evaluations GroupCommit writes at once at most.
const DefaultGroupCommit = 64

// groupCommitTimeout bounds one batched write, which no single caller's context governs.
const groupCommitTimeout = 2 * time.Minute

// GroupCommit writes the evaluations and gap events that concurrent callers hand it in
// batches (group commit): while one batch is being written the next gathers, so a busy scorer
// writes many evaluations per store round trip and an idle one writes each at once, without
// waiting. Each call returns only when what it handed over is durable, or with the error of
// the write — so a caller that acks a message after WriteEvaluation returns still acks only
// durable work. Two evaluations of one artifact never share a batch. A batch that fails is
// written again one call at a time, so that one bad evaluation fails only its own caller.
// Invalid input fails at once, without waiting.
type GroupCommit struct {
	Store
	evaluations *committer[Evaluation]
	gapEvents   *committer[GapEvent]
}

// NewGroupCommit returns a GroupCommit over s writing up to max evaluations at once
// (DefaultGroupCommit when max is 0 or less). Evaluations are written with WriteEvaluations
// when s is a BatchWriter, and one by one otherwise.
func NewGroupCommit(s Store, max int) *GroupCommit {
	if max <= 0 {
		max = DefaultGroupCommit
	}
	write := func(ctx context.Context, evs []Evaluation) error {
		if b, ok := s.(BatchWriter); ok {
			return b.WriteEvaluations(ctx, evs)
		}
		for _, ev := range evs {
			if err := s.WriteEvaluation(ctx, ev); err != nil {
				return err
			}
		}
		return nil
	}
	return &GroupCommit{
		Store:       s,
		evaluations: &committer[Evaluation]{flush: write, max: max},
		gapEvents:   &committer[GapEvent]{flush: s.WriteGapEvents, max: max},
	}
}

// WriteEvaluation hands ev to the next batch and waits until it is written.
func (g *GroupCommit) WriteEvaluation(ctx context.Context, ev Evaluation) error {
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("writing evaluation: %w", err)
	}
	return g.evaluations.do(ctx, string(ev.Evidence.Image.Digest), ev)
}

// WriteGapEvents hands events to the next batch and waits until they are written.
func (g *GroupCommit) WriteGapEvents(ctx context.Context, events []GapEvent) error {
	for _, e := range events {
		if err := e.Validate(); err != nil {
			return fmt.Errorf("writing gap events: %w", err)
		}
	}
	if len(events) == 0 {
		return nil
	}
	return g.gapEvents.do(ctx, string(events[0].Image.Digest), events...)
}

// committer gathers the items of concurrent calls and flushes them in batches, one batch at a
// time.
type committer[T any] struct {
	flush func(context.Context, []T) error
	max   int

	mu      sync.Mutex
	queue   []*pending[T]
	running bool
}

// pending is one call's items and where its result goes.
type pending[T any] struct {
	key   string
	items []T
	done  chan error
}

// do queues items (all about key) and waits for the batch that writes them.
func (c *committer[T]) do(ctx context.Context, key string, items ...T) error {
	p := &pending[T]{key: key, items: items, done: make(chan error, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, p)
	if !c.running {
		c.running = true
		go c.run()
	}
	c.mu.Unlock()
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		// The batch may still be written; the caller retries, and writes are idempotent.
		return ctx.Err()
	}
}

// run writes batches until the queue is empty.
func (c *committer[T]) run() {
	for {
		batch := c.next()
		if batch == nil {
			return
		}
		c.write(batch)
	}
}

// next takes the next batch off the queue: up to max items' calls, in order, with one call per
// key (a later call about a key already in the batch waits for the next); nil, marking the
// committer idle, when the queue is empty.
func (c *committer[T]) next() []*pending[T] {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		c.running = false
		return nil
	}
	var batch, rest []*pending[T]
	keys := map[string]bool{}
	n := 0
	for _, p := range c.queue {
		if keys[p.key] || (n > 0 && n+len(p.items) > c.max) {
			rest = append(rest, p)
			continue
		}
		keys[p.key] = true
		n += len(p.items)
		batch = append(batch, p)
	}
	c.queue = rest
	return batch
}

// write flushes batch, and when that fails and the batch has more than one call, each call
// on its own.
func (c *committer[T]) write(batch []*pending[T]) {
	ctx, cancel := context.WithTimeout(context.Background(), groupCommitTimeout)
	defer cancel()
	var items []T
	for _, p := range batch {
		items = append(items, p.items...)
	}
	err := c.flush(ctx, items)
	if err == nil || len(batch) == 1 {
		for _, p := range batch {
			p.done <- err
		}
		return
	}
	for _, p := range batch {
		p.done <- c.flush(ctx, p.items)
	}
}

var _ Writer = (*GroupCommit)(nil)
