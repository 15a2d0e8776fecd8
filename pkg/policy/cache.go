package policy

import (
	"slices"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// virtualCache is OPA's per-evaluation cache of rule values and function results
// (topdown.VirtualCache) kept in one hash map per frame instead of a trie of hash maps, and
// reused from a pool: OPA's own allocates several maps and nodes for every value it caches,
// which is a large share of what one decision allocates.
type virtualCache struct {
	frames []cacheFrame
	depth  int
}

// cacheFrame holds the values cached in one frame (OPA pushes a frame for each `with`).
type cacheFrame struct {
	entries map[uint64]cacheEntry
	// more holds the entries whose ref's hash is already taken by another ref.
	more map[uint64][]cacheEntry
}

// cacheEntry is one cached value; a nil value with undefined set records an undefined result.
type cacheEntry struct {
	ref       ast.Ref
	value     *ast.Term
	undefined bool
}

var _ topdown.VirtualCache = (*virtualCache)(nil)

var virtualCaches = sync.Pool{New: func() any {
	c := &virtualCache{}
	c.Push()
	return c
}}

// getVirtualCache returns an empty cache with one frame, from the pool.
func getVirtualCache() *virtualCache { return virtualCaches.Get().(*virtualCache) }

// putVirtualCache empties c and returns it to the pool. Emptied maps keep their room, so a
// reused cache allocates only the copies of the refs it is given.
func putVirtualCache(c *virtualCache) {
	for i := range c.depth {
		clear(c.frames[i].entries)
		clear(c.frames[i].more)
	}
	c.depth = 1
	virtualCaches.Put(c)
}

// Push starts a new, empty frame.
func (c *virtualCache) Push() {
	if c.depth == len(c.frames) {
		c.frames = append(c.frames, cacheFrame{entries: make(map[uint64]cacheEntry, 64)})
	}
	c.depth++
}

// Pop drops the top frame and its entries.
func (c *virtualCache) Pop() {
	c.depth--
	clear(c.frames[c.depth].entries)
	clear(c.frames[c.depth].more)
}

// Get returns the value cached for ref in the top frame: (value, false) when cached,
// (nil, true) when ref was recorded undefined, (nil, false) when nothing is cached.
func (c *virtualCache) Get(ref ast.Ref) (*ast.Term, bool) { return c.get(ref, uint64(ref.Hash())) }

// get is Get for a ref whose hash is h.
func (c *virtualCache) get(ref ast.Ref, h uint64) (*ast.Term, bool) {
	f := &c.frames[c.depth-1]
	e, ok := f.entries[h]
	if !ok {
		return nil, false
	}
	if e.ref.Equal(ref) {
		return e.value, e.undefined
	}
	for _, m := range f.more[h] {
		if m.ref.Equal(ref) {
			return m.value, m.undefined
		}
	}
	return nil, false
}

// Put caches value for ref in the top frame; a nil value records that ref is undefined. The
// ref is copied: OPA reuses the slices it passes.
func (c *virtualCache) Put(ref ast.Ref, value *ast.Term) { c.put(ref, uint64(ref.Hash()), value) }

// put is Put for a ref whose hash is h.
func (c *virtualCache) put(ref ast.Ref, h uint64, value *ast.Term) {
	f := &c.frames[c.depth-1]
	entry := cacheEntry{value: value, undefined: value == nil}
	e, ok := f.entries[h]
	switch {
	case !ok:
		entry.ref = slices.Clone(ref)
		f.entries[h] = entry
	case e.ref.Equal(ref):
		entry.ref = e.ref
		f.entries[h] = entry
	default:
		more := f.more[h]
		for i, m := range more {
			if m.ref.Equal(ref) {
				entry.ref = m.ref
				more[i] = entry
				return
			}
		}
		if f.more == nil {
			f.more = map[uint64][]cacheEntry{}
		}
		entry.ref = slices.Clone(ref)
		f.more[h] = append(more, entry)
	}
}

// Keys returns the refs cached in the top frame that have a value.
func (c *virtualCache) Keys() []ast.Ref {
	f := &c.frames[c.depth-1]
	var keys []ast.Ref
	for _, e := range f.entries {
		if e.value != nil {
			keys = append(keys, e.ref)
		}
	}
	for _, more := range f.more {
		for _, e := range more {
			if e.value != nil {
				keys = append(keys, e.ref)
			}
		}
	}
	return keys
}
