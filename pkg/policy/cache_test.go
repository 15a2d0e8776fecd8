package policy

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestVirtualCache(t *testing.T) {
	c := getVirtualCache()
	defer putVirtualCache(c)
	a, b := ast.MustParseRef("data.x.a"), ast.MustParseRef("data.x.b")
	one, two := ast.IntNumberTerm(1), ast.IntNumberTerm(2)

	expect := func(ref ast.Ref, h uint64, want *ast.Term, wantUndefined bool) {
		t.Helper()
		got, undefined := c.get(ref, h)
		if !got.Equal(want) || undefined != wantUndefined {
			t.Errorf("get(%v) = %v, %t; want %v, %t", ref, got, undefined, want, wantUndefined)
		}
	}

	// Two refs with the same hash are kept apart, and either can be updated.
	c.put(a, 7, one)
	c.put(b, 7, nil)
	expect(a, 7, one, false)
	expect(b, 7, nil, true)
	c.put(b, 7, two)
	c.put(a, 7, two)
	expect(a, 7, two, false)
	expect(b, 7, two, false)
	if keys := c.Keys(); len(keys) != 2 {
		t.Errorf("Keys() = %v; want the 2 refs", keys)
	}

	// Put copies the ref: the caller may reuse its slice.
	ref := ast.MustParseRef("data.x.c")
	c.Put(ref, one)
	ref[2] = ast.StringTerm("d")
	if got, _ := c.Get(ast.MustParseRef("data.x.c")); !got.Equal(one) {
		t.Errorf("Get(data.x.c) after the caller reused its ref = %v; want 1", got)
	}

	// A frame hides what is below it, and Pop drops it.
	c.Push()
	expect(a, 7, nil, false)
	c.put(a, 7, one)
	expect(a, 7, one, false)
	c.Pop()
	expect(a, 7, two, false)
	c.Push()
	expect(a, 7, nil, false)
	c.Pop()
}

func TestVirtualCacheFromThePoolIsEmpty(t *testing.T) {
	c := getVirtualCache()
	c.Push()
	c.Put(ast.MustParseRef("data.x.a"), ast.IntNumberTerm(1))
	putVirtualCache(c) // with a frame still pushed, as after an aborted evaluation
	c = getVirtualCache()
	defer putVirtualCache(c)
	if got, undefined := c.Get(ast.MustParseRef("data.x.a")); got != nil || undefined {
		t.Errorf("Get on a cache from the pool = %v, %t; want nothing cached", got, undefined)
	}
	if c.depth != 1 {
		t.Errorf("cache from the pool has %d frames; want 1", c.depth)
	}
}
