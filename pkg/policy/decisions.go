package policy

import (
	"container/list"
	"crypto/sha256"
	"encoding/json"
	"slices"
	"sync"
)

// DefaultDecisionCache is how many decisions an Engine remembers unless WithDecisionCache
// says otherwise.
const DefaultDecisionCache = 8192

// WithDecisionCache makes the Engine remember the decisions for the last n distinct inputs
// (0 turns the cache off). An Engine is one policy version, and decisions are deterministic
// (the capabilities exclude clocks, randomness and the network), so an input seen before —
// a rescan that finds the same evidence, another replica's redelivery — is answered without
// evaluating the policy again.
func WithDecisionCache(n int) Option { return func(o *options) { o.cacheSize = n } }

// decisionCache is a bounded LRU of decisions keyed by a hash of the input.
type decisionCache struct {
	size int

	mu    sync.Mutex
	order *list.List // of decisionEntry, most recent first
	byKey map[[32]byte]*list.Element
}

type decisionEntry struct {
	key [32]byte
	d   Decision
}

func newDecisionCache(size int) *decisionCache {
	if size <= 0 {
		return nil
	}
	return &decisionCache{size: size, order: list.New(), byKey: make(map[[32]byte]*list.Element, size)}
}

// key hashes the whole input: any field a policy might read is part of it.
func inputKey(in Input) ([32]byte, bool) {
	b, err := json.Marshal(in)
	if err != nil {
		return [32]byte{}, false
	}
	return sha256.Sum256(b), true
}

func (c *decisionCache) get(k [32]byte) (Decision, bool) {
	if c == nil {
		return Decision{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[k]
	if !ok {
		return Decision{}, false
	}
	c.order.MoveToFront(e)
	return clone(e.Value.(decisionEntry).d), true
}

func (c *decisionCache) put(k [32]byte, d Decision) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[k]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.byKey[k] = c.order.PushFront(decisionEntry{key: k, d: clone(d)})
	if c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(decisionEntry).key)
	}
}

// clone copies the slices of d, so callers cannot change a cached decision.
func clone(d Decision) Decision {
	d.Gaps = slices.Clone(d.Gaps)
	d.Explanation = slices.Clone(d.Explanation)
	return d
}
