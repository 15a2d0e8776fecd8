package store

import (
	"fmt"
	"strconv"
	"time"

	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
)

// The states of a gap event.
const (
	GapOpened = "opened"
	GapClosed = "closed"
)

// The states a GapQuery asks for, and the states of a GapItem.
const (
	GapStateOpen   = "open"
	GapStateClosed = "closed"
	GapStateAll    = "all"
)

// GapEvent records that an evaluation opened or closed a gap of an artifact in an environment.
type GapEvent struct {
	// Fingerprint identifies the gap across evaluations: event.GapFingerprint of the image's
	// digest, the environment and the gap code.
	Fingerprint string            `json:"fingerprint"`
	Image       evidence.ImageRef `json:"image"`
	Environment string            `json:"environment"`
	Org         string            `json:"org"`
	Team        string            `json:"team,omitempty"`
	Gap         evidence.Gap      `json:"gap"`
	// State is GapOpened or GapClosed.
	State string `json:"state"`
	// At is when the evaluation that opened or closed the gap ran.
	At           time.Time `json:"at"`
	EvaluationID string    `json:"evaluation_id"`
}

// Validate reports whether e names a valid image, an environment, an org, a gap code, an
// evaluation and a state, whether its time is from 1970 to 2105, and whether its fingerprint is
// that of its digest, environment and code. The error wraps evidence.ErrInvalid.
func (e GapEvent) Validate() error {
	if err := e.Image.Validate(); err != nil {
		return fmt.Errorf("gap event %s: %w", e.Fingerprint, err)
	}
	if e.Environment == "" || e.Org == "" || e.Gap.Code == "" || e.EvaluationID == "" {
		return fmt.Errorf("%w: gap event %s: environment, org, gap code and evaluation_id are required",
			evidence.ErrInvalid, e.Fingerprint)
	}
	if e.State != GapOpened && e.State != GapClosed {
		return fmt.Errorf("%w: gap event %s: state %q: want %q or %q", evidence.ErrInvalid, e.Fingerprint, e.State,
			GapOpened, GapClosed)
	}
	if want := event.GapFingerprint(e.Image.Digest, e.Environment, e.Gap.Code); e.Fingerprint != want {
		return fmt.Errorf("%w: gap event: fingerprint %q: want %q, that of the digest, environment and code",
			evidence.ErrInvalid, e.Fingerprint, want)
	}
	return checkTime("gap event at", e.At)
}

// GapQuery narrows the gap feed; empty fields match everything.
//
// Open gaps are the truth of now: the gaps of the current scores of artifacts in environments
// where one of their deployments runs. Closed gaps are those whose latest event closed them and
// that are not open.
type GapQuery struct {
	// State is GapStateOpen (the default when empty), GapStateClosed or GapStateAll.
	State string
	// Org, Team, Environment, Code and Severity keep the gaps whose item has these values.
	Org         string
	Team        string
	Environment string
	Code        string
	Severity    string
	// Limit is the page size: 0 for DefaultPageLimit, at most MaxPageLimit.
	Limit int
	// After is the opaque cursor a previous page returned; empty for the first page.
	After string
}

// Validate reports whether q's state is empty or one of the GapState constants, its limit 0 to
// MaxPageLimit and its cursor one that the gap feed returned. The error wraps
// evidence.ErrInvalid.
func (q GapQuery) Validate() error {
	switch q.State {
	case "", GapStateOpen, GapStateClosed, GapStateAll:
	default:
		return fmt.Errorf("%w: gap query: state %q: want %q, %q or %q", evidence.ErrInvalid, q.State,
			GapStateOpen, GapStateClosed, GapStateAll)
	}
	if err := checkLimit("gap query", q.Limit); err != nil {
		return err
	}
	_, err := q.AfterKey()
	return err
}

// States returns whether q asks for open gaps and whether it asks for closed ones.
func (q GapQuery) States() (open, closed bool) {
	switch q.State {
	case GapStateClosed:
		return false, true
	case GapStateAll:
		return true, true
	}
	return true, false
}

// PageSize returns q.Limit, or DefaultPageLimit when it is 0.
func (q GapQuery) PageSize() int { return pageSize(q.Limit) }

// GapKey is the sort key of a gap item: the order of the gap feed. OpenedAt is in Unix
// nanoseconds.
type GapKey struct {
	OpenedAt          int64
	Digest            evidence.Digest
	Environment, Code string
}

// Key returns g's sort key.
func (g GapItem) Key() GapKey {
	return GapKey{g.OpenedAt.UnixNano(), g.Image.Digest, g.Environment, g.Code}
}

// Less reports whether k sorts before o.
func (k GapKey) Less(o GapKey) bool {
	switch {
	case k.OpenedAt != o.OpenedAt:
		return k.OpenedAt < o.OpenedAt
	case k.Digest != o.Digest:
		return k.Digest < o.Digest
	case k.Environment != o.Environment:
		return k.Environment < o.Environment
	}
	return k.Code < o.Code
}

// Cursor returns the opaque cursor of a gap feed that continues after the item with key k.
func (k GapKey) Cursor() string {
	return encodeCursor(strconv.FormatInt(k.OpenedAt, 10), string(k.Digest), k.Environment, k.Code)
}

// AfterKey returns the key q.After continues after, the zero key when q.After is empty (every
// item sorts after it). The error wraps evidence.ErrInvalid when q.After is not a cursor that
// GapKey.Cursor made.
func (q GapQuery) AfterKey() (GapKey, error) {
	if q.After == "" {
		return GapKey{}, nil
	}
	p, err := decodeCursor("gap query", q.After, 4)
	if err != nil {
		return GapKey{}, err
	}
	at, err := strconv.ParseInt(p[0], 10, 64)
	if err != nil || at < 0 {
		return GapKey{}, fmt.Errorf("%w: gap query: cursor %q: not a cursor from a previous page", evidence.ErrInvalid, q.After)
	}
	return GapKey{at, evidence.Digest(p[1]), p[2], p[3]}, nil
}

// GapItem is one gap in the feed. An open gap's image, org, team and gap are those of the current
// score (its first gap with the code); a closed gap's are those of the closing event.
type GapItem struct {
	Fingerprint string            `json:"fingerprint"`
	Image       evidence.ImageRef `json:"image"`
	Environment string            `json:"environment"`
	Org         string            `json:"org"`
	Team        string            `json:"team,omitempty"`
	evidence.Gap
	// State is GapStateOpen or GapStateClosed.
	State string `json:"state"`
	// OpenedAt is, for an open gap, the time of the latest "opened" event of its fingerprint,
	// or, when none was recorded, the evaluation time of the current score; for a closed gap,
	// the time of the latest "opened" event up to the closing one, or the closing time when
	// there is none.
	OpenedAt time.Time `json:"opened_at"`
	// ClosedAt is the time of the closing event of a closed gap; nil when it is open.
	ClosedAt *time.Time `json:"closed_at,omitempty"`
	// SLSALevel is the level of the artifact's current score in the environment; 0 when it is
	// not scored there.
	SLSALevel evidence.Level `json:"slsa_level"`
	// Accepted is set on an open gap that an active exception accepts (see MarkAccepted).
	Accepted *Acceptance `json:"accepted,omitempty"`
}
