// Package listing holds what the store implementations share to list things: cutting a page and
// its cursor from the rows read, visiting every running artifact a page at a time, and the
// entity tag of the gap feed.
package listing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

// Batch is how many artifacts Each lists and loads at once.
const Batch = 100

// Page cuts a page of size items from items, which a store read with a limit of size+1, and
// returns it with the cursor of the next page: "" when items holds no more than size, so that
// the last page says it is the last.
func Page(items []store.ArtifactSummary, size int) ([]store.ArtifactSummary, string) {
	if len(items) <= size {
		return items, ""
	}
	items = items[:size]
	return items, store.ArtifactCursor(items[size-1].Image.Digest)
}

// PageOf cuts a page of size items from items, which a store read with a limit of size+1, and
// returns it with the cursor of the next page, made by cursor from the page's last item: "" when
// items holds no more than size.
func PageOf[T any](items []T, size int, cursor func(T) string) ([]T, string) {
	if len(items) <= size {
		return items, ""
	}
	items = items[:size]
	return items, cursor(items[size-1])
}

// Set returns the distinct strings of s, sorted; empty, not nil, when s is.
func Set(s []string) []string {
	out := append([]string{}, s...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Each calls fn with the detail of every artifact with a running deployment, in digest order:
// it lists them with list, Batch at a time, and loads each batch's details with load, which
// returns them in digest order. No rows are open while fn runs, so fn may call the store. Each
// returns fn's first error, wrapped, or that of list or load.
func Each(ctx context.Context,
	list func(context.Context, store.ArtifactQuery) ([]store.ArtifactSummary, string, error),
	load func(context.Context, []evidence.Digest) ([]store.ArtifactDetail, error),
	fn func(store.ArtifactDetail) error,
) error {
	q := store.ArtifactQuery{Limit: Batch}
	for {
		page, next, err := list(ctx, q)
		if err != nil {
			return fmt.Errorf("visiting artifacts: %w", err)
		}
		digests := make([]evidence.Digest, len(page))
		for i, a := range page {
			digests[i] = a.Image.Digest
		}
		details, err := load(ctx, digests)
		if err != nil {
			return fmt.Errorf("visiting artifacts: %w", err)
		}
		for _, d := range details {
			if err := fn(d); err != nil {
				return fmt.Errorf("visiting artifact %s: %w", d.Image, err)
			}
		}
		if next == "" {
			return nil
		}
		q.After = next
	}
}

// GapsTag returns the entity tag of a whole gap feed, items in feed order: their number and a
// hash of their JSON.
func GapsTag(items []store.GapItem) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, g := range items {
		g.OpenedAt = g.OpenedAt.UTC()
		if g.ClosedAt != nil {
			at := g.ClosedAt.UTC()
			g.ClosedAt = &at
		}
		enc.Encode(g) // a GapItem always encodes; a hash never fails to write
	}
	return fmt.Sprintf("%d-%s", len(items), hex.EncodeToString(h.Sum(nil))[:16])
}
