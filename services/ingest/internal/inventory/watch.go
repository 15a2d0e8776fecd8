package inventory

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// Resolver resolves a tag reference ("REGISTRY/REPO:TAG") to the image it currently names.
// It is never called for a reference that already has a digest.
type Resolver interface {
	Resolve(ctx context.Context, ref string) (evidence.ImageRef, error)
}

// Emit delivers a batch of deployment observations (ended ones have EndedAt set), typically
// by publishing one aspm.deploy.observed event each. An error means the batch was not
// delivered and is offered again later.
type Emit func(ctx context.Context, deps []evidence.Deployment) error

// Options tune a Watcher.
type Options struct {
	// PollInterval is how often the file is checked for changes; 10s when zero.
	PollInterval time.Duration
	// Now returns the time of observations; time.Now when nil.
	Now func() time.Time
	// Logger receives the watcher's logs; nil discards them.
	Logger *slog.Logger
}

// Watcher keeps deployments in step with an inventory file. Build it with NewWatcher.
type Watcher struct {
	path    string
	resolve Resolver
	emit    Emit
	every   time.Duration
	now     func() time.Time
	log     *slog.Logger
}

// NewWatcher returns a watcher of the inventory file at path that resolves tags with r and
// delivers observations to emit. It reads nothing yet. The error reports a missing path,
// resolver or emit function, or a negative poll interval.
func NewWatcher(path string, r Resolver, emit Emit, opts Options) (*Watcher, error) {
	switch {
	case path == "":
		return nil, errors.New("inventory: a file path is required")
	case r == nil:
		return nil, errors.New("inventory: a tag resolver is required")
	case emit == nil:
		return nil, errors.New("inventory: an emit function is required")
	case opts.PollInterval < 0:
		return nil, fmt.Errorf("inventory: poll interval %s is negative", opts.PollInterval)
	}
	w := &Watcher{path: path, resolve: r, emit: emit, every: opts.PollInterval, now: opts.Now, log: opts.Logger}
	if w.every == 0 {
		w.every = 10 * time.Second
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.log = w.log.With("inventory", path)
	return w, nil
}

// state is what one Run remembers between polls.
type state struct {
	hash     [sha256.Size]byte // of the content last read, valid or not
	read     bool              // whether hash is set
	fileHash [sha256.Size]byte // of the content file was parsed from
	file     *File             // the last valid content; nil before the first
	current  map[string]evidence.Deployment
	resolved map[string]evidence.ImageRef // tag reference → its last resolution
	failed   map[string]bool              // tag references whose last resolution failed
	pending  []evidence.Deployment        // observations not yet delivered
	problem  string                       // the last reading problem logged, to log it once
}

// Run loads the file, emits every deployment it lists as observed, then polls the file every
// PollInterval until ctx is done, when it returns nil. It never returns another error: every
// problem is logged and retried on the next poll.
//
// When the content changes (compared by SHA-256, so same-second edits are seen), Run emits
// every deployment of the new content as observed, and every deployment of the previous
// content that is gone (by Deployment.Key) with EndedAt set, in one batch. A tag that cannot be
// resolved is logged and retried on each poll; meanwhile its previous resolution, if any, stands,
// and the other images are emitted. Tags that resolved are resolved again only when the file
// changes, so a re-pushed tag is noticed on the next edit. A file that cannot be read (e.g. deleted) or is invalid
// keeps the previous state; only a valid file without workloads ends everything. A batch that
// emit rejects is offered again, merged with later observations, on the next poll.
func (w *Watcher) Run(ctx context.Context) error {
	st := &state{
		current:  map[string]evidence.Deployment{},
		resolved: map[string]evidence.ImageRef{},
		failed:   map[string]bool{},
	}
	w.poll(ctx, st)
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if len(st.pending) > 0 {
				w.log.Warn("stopping with undelivered deployment observations", "count", len(st.pending))
			}
			return nil
		case <-t.C:
			w.poll(ctx, st)
		}
	}
}

// poll reloads the file if it changed, retries failed tag resolutions, and delivers what is
// pending.
func (w *Watcher) poll(ctx context.Context, st *state) {
	if w.read(st) {
		w.reconcile(ctx, st, true)
	} else if len(st.failed) > 0 && st.file != nil {
		w.reconcile(ctx, st, false)
	}
	w.flush(ctx, st)
}

// read reads the file and reports whether it holds new, valid content, which it stores in st.
func (w *Watcher) read(st *state) bool {
	data, err := readFile(w.path)
	if err != nil {
		msg := err.Error()
		if st.problem != msg {
			st.problem = msg
			if errors.Is(err, fs.ErrNotExist) {
				w.log.Warn("inventory file is missing; keeping the deployments it listed", "err", err)
			} else {
				w.log.Error("cannot read inventory file; keeping the previous state", "err", err)
			}
		}
		return false
	}
	st.problem = ""
	h := sha256.Sum256(data)
	if st.read && h == st.hash {
		return false
	}
	st.hash, st.read = h, true
	if st.file != nil && h == st.fileHash {
		w.log.Info("inventory file is back to the content in force")
		return false
	}
	f, err := Parse(data)
	if err != nil {
		w.log.Error("invalid inventory file; keeping the previous state", "err", err)
		return false
	}
	st.file, st.fileHash = f, h
	return true
}

// reconcile computes the deployments of st.file and queues the differences with
// st.current: on a reload (full), every current deployment is queued as observed; on a retry,
// only the new ones. Deployments gone since st.current are queued as ended.
func (w *Watcher) reconcile(ctx context.Context, st *state, full bool) {
	now := w.now()
	next := map[string]evidence.Deployment{}
	attempted := map[string]bool{}
	failed := map[string]bool{}
	refs := map[string]bool{}
	for _, e := range st.file.entries() {
		refs[e.ref] = true
		img := e.pinned
		if e.isTag {
			if (full || st.failed[e.ref]) && !attempted[e.ref] {
				attempted[e.ref] = true
				if err := w.resolveTag(ctx, st, e.ref); err != nil {
					failed[e.ref] = true
					w.log.Warn("cannot resolve image tag; retrying on the next poll", "environment", e.tmpl.Environment,
						"workload", e.tmpl.Workload, "image", e.ref, "err", err)
				}
			}
			var ok bool
			if img, ok = st.resolved[e.ref]; !ok {
				continue // never resolved: nothing to say about it yet
			}
		}
		d := e.tmpl
		d.Image = img
		d.ObservedAt = now
		next[d.Key()] = d
	}
	st.failed = failed
	for ref := range st.resolved {
		if !refs[ref] {
			delete(st.resolved, ref)
		}
	}

	var batch []evidence.Deployment
	for k, d := range st.current {
		if _, ok := next[k]; !ok {
			// The ending is itself an observation, made now: the deployment store keeps the
			// record with the latest ObservedAt, so an older one would be ignored.
			end := now
			d.ObservedAt, d.EndedAt = now, &end
			batch = append(batch, d)
		}
	}
	for k, d := range next {
		if _, seen := st.current[k]; full || !seen {
			batch = append(batch, d)
		}
	}
	sortDeployments(batch)
	st.current = next
	st.pending = merge(st.pending, batch)
	level := slog.LevelDebug
	if full || len(batch) > 0 {
		level = slog.LevelInfo
	}
	w.log.Log(ctx, level, "inventory reconciled", "reload", full, "deployments", len(next), "unresolved", len(failed), "queued", len(batch))
}

// resolveTag resolves ref into st.resolved. The error is the resolver's, or wraps
// evidence.ErrInvalid when the resolver returned an image without a valid digest.
func (w *Watcher) resolveTag(ctx context.Context, st *state, ref string) error {
	img, err := w.resolve.Resolve(ctx, ref)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", ref, err)
	}
	if err := img.Validate(); err != nil {
		return fmt.Errorf("resolving %s: %w", ref, err)
	}
	st.resolved[ref] = img
	return nil
}

// flush delivers the pending observations, keeping them when emit fails.
func (w *Watcher) flush(ctx context.Context, st *state) {
	if len(st.pending) == 0 {
		return
	}
	if err := w.emit(ctx, slices.Clone(st.pending)); err != nil {
		w.log.Warn("cannot deliver deployment observations; retrying on the next poll", "count", len(st.pending), "err", err)
		return
	}
	w.log.Info("deployment observations delivered", "count", len(st.pending))
	st.pending = nil
}

// merge appends batch to pending; an observation replaces an older pending one with the same
// key, so the pending list stays bounded by the number of distinct deployments.
func merge(pending, batch []evidence.Deployment) []evidence.Deployment {
	if len(pending) == 0 {
		return batch
	}
	newer := make(map[string]bool, len(batch))
	for _, d := range batch {
		newer[d.Key()] = true
	}
	out := slices.DeleteFunc(pending, func(d evidence.Deployment) bool { return newer[d.Key()] })
	return append(out, batch...)
}

// sortDeployments orders a batch: ended first, then by place and image, so batches are
// deterministic.
func sortDeployments(ds []evidence.Deployment) {
	slices.SortFunc(ds, func(a, b evidence.Deployment) int {
		if a.Ended() != b.Ended() {
			if a.Ended() {
				return -1
			}
			return 1
		}
		return cmp.Or(
			cmp.Compare(a.Environment, b.Environment),
			cmp.Compare(a.Org, b.Org),
			cmp.Compare(a.Cluster, b.Cluster),
			cmp.Compare(a.Namespace, b.Namespace),
			cmp.Compare(a.Workload, b.Workload),
			cmp.Compare(a.Image.String(), b.Image.String()),
		)
	})
}
