// Package report builds compliance reports from the store: the NIST SSDF (SP 800-218 v1.1)
// tasks and the SP 800-53 Rev. 5 controls of FedRAMP's supply-chain story, each with its
// status over the deployed artifacts, its evidence, its failing artifacts and the exceptions
// that accept its gaps; and renders them as JSON, CSV, a printable HTML page and OSCAL 1.1.2
// (assessment plan, assessment results, plan of action and milestones).
//
// A report assesses the store's current state — the artifacts with a running deployment in the
// query's scope and their current scores — as of the end of the query's window: exceptions are
// evaluated at Query.To, and every time in the output comes from the window, never the clock.
// Everything is sorted and OSCAL UUIDs are name-based (UUIDv5), so the same stored data and
// window give byte-identical output.
package report

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

// DefaultWindow is the length of the default report window.
const DefaultWindow = 30 * 24 * time.Hour

// MaxWindow is the longest window a query may give.
const MaxWindow = 3 * 366 * 24 * time.Hour

// Query says what a report covers: an org (required), optionally one team and one
// environment, and the window [From, To).
type Query struct {
	Framework   string
	Org         string
	Team        string
	Environment string
	From, To    time.Time
}

// WithDefaults fills an empty window: To is the start of now's UTC day and From DefaultWindow
// before To; an empty From is DefaultWindow before To. Times are converted to UTC and
// truncated to the second.
func (q Query) WithDefaults(now time.Time) Query {
	if q.To.IsZero() {
		q.To = now.UTC().Truncate(24 * time.Hour)
	}
	if q.From.IsZero() {
		q.From = q.To.Add(-DefaultWindow)
	}
	q.To = q.To.UTC().Truncate(time.Second)
	q.From = q.From.UTC().Truncate(time.Second)
	return q
}

// Validate reports whether q names a framework and an org (not "*"), and a window of at most
// MaxWindow with From before To, within 1970–2105. The error wraps evidence.ErrInvalid.
func (q Query) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: report: %s", evidence.ErrInvalid, fmt.Sprintf(format, args...))
	}
	switch {
	case q.Framework != SSDF && q.Framework != FedRAMP:
		return bad("framework %q: want %s or %s", q.Framework, SSDF, FedRAMP)
	case q.Org == "" || q.Org == "*":
		return bad("an org is required")
	case q.From.IsZero() || q.To.IsZero():
		return bad("a window (from and to) is required")
	case !q.From.Before(q.To):
		return bad("from %s is not before to %s", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	case q.To.Sub(q.From) > MaxWindow:
		return bad("the window is longer than %d days", int(MaxWindow.Hours()/24))
	case q.From.Year() < 1970 || q.To.Year() > 2105:
		return bad("the window must be within 1970 to 2105")
	}
	return nil
}

// The statuses of a requirement.
const (
	Satisfied          = "satisfied"
	PartiallySatisfied = "partially-satisfied"
	NotSatisfied       = "not-satisfied"
)

// Report is a framework's requirements assessed over the deployed artifacts in a query's scope.
type Report struct {
	Framework   string    `json:"framework"`
	Title       string    `json:"title"`
	Org         string    `json:"org"`
	Team        string    `json:"team,omitempty"`
	Environment string    `json:"environment,omitempty"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	// Summary counts the requirements by status and the artifacts in scope.
	Summary Summary `json:"summary"`
	// Evidence counts the evidence documents of the artifacts in scope by kind.
	Evidence []EvidenceCount `json:"evidence"`
	// Artifacts are the artifacts in scope, by digest.
	Artifacts    []Artifact          `json:"artifacts"`
	Requirements []RequirementResult `json:"requirements"`
	// AcceptedWeaknesses are the exceptions active at To that accept gaps of the artifacts in
	// scope — FedRAMP's list of accepted weaknesses.
	AcceptedWeaknesses []Weakness `json:"accepted_weaknesses"`
	// OpenWeaknesses are the gap codes with gaps in scope that no exception accepts.
	OpenWeaknesses []Weakness `json:"open_weaknesses"`
	// Sources cite the mapping table.
	Sources []Source `json:"sources"`
}

// Summary counts a report's requirements by status.
type Summary struct {
	Artifacts          int `json:"artifacts"`
	Requirements       int `json:"requirements"`
	Satisfied          int `json:"satisfied"`
	PartiallySatisfied int `json:"partially_satisfied"`
	NotSatisfied       int `json:"not_satisfied"`
}

// EvidenceCount counts evidence documents of one kind, and those that verified.
type EvidenceCount struct {
	Kind      evidence.Kind `json:"kind"`
	Documents int           `json:"documents"`
	Verified  int           `json:"verified"`
}

// Source cites one source of the mapping table.
type Source struct {
	Key  string `json:"key"`
	Text string `json:"text"`
}

// Artifact is one artifact in scope: where it runs in scope and its current gaps there.
type Artifact struct {
	Digest             evidence.Digest `json:"digest"`
	Repository         string          `json:"repository"`
	Environments       []string        `json:"environments"`
	Teams              []string        `json:"teams"`
	CollectedAt        time.Time       `json:"collected_at"`
	VerifiedProvenance bool            `json:"verified_provenance"`
	SBOMComponents     int             `json:"sbom_components"`
	Evidence           []EvidenceCount `json:"evidence"`
	// Gaps are the distinct current gap codes in scope; Accepted those of them every
	// occurrence of which an exception accepts.
	Gaps     []string `json:"gaps"`
	Accepted []string `json:"accepted"`
}

// RequirementResult is one requirement assessed.
type RequirementResult struct {
	Requirement
	Status string `json:"status"`
	// Artifacts counts the artifacts in scope; Satisfying those that meet the requirement (with
	// or without accepted gaps), Accepted those of them that need an exception to, Failing the
	// rest.
	Artifacts  int `json:"artifacts"`
	Satisfying int `json:"satisfying"`
	Accepted   int `json:"accepted"`
	Failing    int `json:"failing"`
	// EvidenceDocuments counts the documents of the requirement's kinds over the artifacts in
	// scope, EvidenceVerified those of them that verified.
	EvidenceDocuments int `json:"evidence_documents"`
	EvidenceVerified  int `json:"evidence_verified"`
	// FailingArtifacts are the artifacts that do not meet it, by digest.
	FailingArtifacts []FailingArtifact `json:"failing_artifacts"`
	// Exceptions are the exceptions that accept gaps of its codes in scope.
	Exceptions []AcceptedException `json:"exceptions"`
}

// FailingArtifact is an artifact that does not meet a requirement: the environments where it
// fails and why — gap codes, and "rule:NAME" for a failed evidence rule.
type FailingArtifact struct {
	Digest       evidence.Digest `json:"digest"`
	Repository   string          `json:"repository"`
	Environments []string        `json:"environments"`
	Gaps         []string        `json:"gaps"`
}

// AcceptedException is an exception as a report lists it.
type AcceptedException struct {
	ID        string               `json:"id"`
	Code      string               `json:"code"`
	Scope     store.ExceptionScope `json:"scope"`
	Owner     string               `json:"owner"`
	Reason    string               `json:"reason"`
	CreatedAt time.Time            `json:"created_at"`
	ExpiresAt time.Time            `json:"expires_at"`
}

// Weakness is a gap code with gaps in scope: accepted by one exception, or open.
type Weakness struct {
	Code        string `json:"code"`
	Severity    string `json:"severity"`
	Title       string `json:"title"`
	Remediation string `json:"remediation"`
	// Requirements are the report's requirements the code counts against.
	Requirements []string `json:"requirements"`
	// Exception is the accepting exception (accepted weaknesses only).
	Exception *AcceptedException `json:"exception,omitempty"`
	// Artifacts are where the gaps are.
	Artifacts []FailingArtifact `json:"artifacts"`
}

// ArtifactSource visits the running artifacts; store.Reader is one.
type ArtifactSource interface {
	EachArtifact(ctx context.Context, fn func(store.ArtifactDetail) error) error
}

// ExceptionSource lists exceptions; store.ExceptionKeeper is one.
type ExceptionSource interface {
	Exceptions(ctx context.Context, q store.ExceptionQuery) ([]store.Exception, error)
}

// ErrNoMapping is returned by Build when it is given no mapping.
var ErrNoMapping = errors.New("report: no mapping table")

// placement is one running deployment of an artifact in scope, with its current score there.
type placement struct {
	env, team string
	score     *evidence.Score
}

// artifactState is what Build learnt of one artifact.
type artifactState struct {
	det        store.ArtifactDetail
	places     []placement
	verified   bool
	components int
	kinds      map[evidence.Kind]EvidenceCount
}

// Build assesses q's framework over the artifacts arts visits that have a running deployment
// of q's org (and team and environment, when given), with the exceptions of the org active at
// q.To. The error wraps evidence.ErrInvalid when q is invalid, or is the sources' error.
func Build(ctx context.Context, m *Mapping, arts ArtifactSource, exs ExceptionSource, q Query) (*Report, error) {
	if m == nil {
		return nil, ErrNoMapping
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	exceptions, err := exs.Exceptions(ctx, store.ExceptionQuery{Org: q.Org})
	if err != nil {
		return nil, fmt.Errorf("listing exceptions: %w", err)
	}
	var states []*artifactState
	err = arts.EachArtifact(ctx, func(d store.ArtifactDetail) error {
		if st := scope(d, q); st != nil {
			states = append(states, st)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading artifacts: %w", err)
	}
	slices.SortFunc(states, func(a, b *artifactState) int {
		return strings.Compare(string(a.det.Image.Digest), string(b.det.Image.Digest))
	})

	r := &Report{
		Framework: q.Framework, Org: q.Org, Team: q.Team, Environment: q.Environment, From: q.From, To: q.To,
		Artifacts: []Artifact{}, Requirements: []RequirementResult{},
		AcceptedWeaknesses: []Weakness{}, OpenWeaknesses: []Weakness{},
	}
	switch q.Framework {
	case SSDF:
		r.Title = "NIST SP 800-218 (SSDF v1.1) conformance of deployed artifacts"
	case FedRAMP:
		r.Title = "NIST SP 800-53 Rev. 5 / FedRAMP Rev. 5 supply-chain controls of deployed artifacts"
	}
	for k, v := range m.Sources {
		r.Sources = append(r.Sources, Source{Key: k, Text: v})
	}
	slices.SortFunc(r.Sources, func(a, b Source) int { return strings.Compare(a.Key, b.Key) })

	totals := map[evidence.Kind]EvidenceCount{}
	for _, st := range states {
		r.Artifacts = append(r.Artifacts, summarise(st, exceptions, q))
		for k, c := range st.kinds {
			t := totals[k]
			t.Kind = k
			t.Documents += c.Documents
			t.Verified += c.Verified
			totals[k] = t
		}
	}
	r.Evidence = counts(totals)
	r.Summary.Artifacts = len(states)

	reqs := m.Requirements(q.Framework)
	accepted := map[string]*Weakness{} // by exception ID + code
	open := map[string]*Weakness{}     // by code
	for _, req := range reqs {
		res := assess(m, req, states, exceptions, q)
		r.Requirements = append(r.Requirements, res)
		r.Summary.Requirements++
		switch res.Status {
		case Satisfied:
			r.Summary.Satisfied++
		case PartiallySatisfied:
			r.Summary.PartiallySatisfied++
		default:
			r.Summary.NotSatisfied++
		}
	}
	// Weaknesses: every gap occurrence in scope, accepted or open, with the requirements its
	// code counts against in this framework.
	reqsOf := map[string][]string{}
	for _, req := range reqs {
		for _, c := range req.Codes {
			reqsOf[c] = append(reqsOf[c], req.ID)
		}
	}
	for _, st := range states {
		for _, p := range st.places {
			if p.score == nil {
				continue
			}
			for _, code := range p.score.GapCodes() {
				g := m.Catalogue[code]
				w := Weakness{Code: code, Severity: g.Severity, Title: g.Title, Remediation: g.Remediation,
					Requirements: reqsOf[code]}
				if w.Requirements == nil {
					w.Requirements = []string{}
				}
				if w.Severity == "" {
					w.Severity = severityOf(p.score, code)
				}
				var into *Weakness
				if e := store.Accepting(exceptions, q.To, q.Org, p.team, p.env, st.det.Image.Digest, st.det.Image.Repository, code); e != nil {
					key := e.ID + "\x00" + code
					if accepted[key] == nil {
						ae := acceptedOf(*e)
						w.Exception = &ae
						accepted[key] = &w
					}
					into = accepted[key]
				} else {
					if open[code] == nil {
						open[code] = &w
					}
					into = open[code]
				}
				into.Artifacts = addPlace(into.Artifacts, st.det.Image, p.env, code)
			}
		}
	}
	for _, w := range accepted {
		r.AcceptedWeaknesses = append(r.AcceptedWeaknesses, *w)
	}
	slices.SortFunc(r.AcceptedWeaknesses, func(a, b Weakness) int {
		return cmpStrings(a.Exception.ID+"\x00"+a.Code, b.Exception.ID+"\x00"+b.Code)
	})
	for _, w := range open {
		r.OpenWeaknesses = append(r.OpenWeaknesses, *w)
	}
	slices.SortFunc(r.OpenWeaknesses, func(a, b Weakness) int {
		if c := severityRank(a.Severity) - severityRank(b.Severity); c != 0 {
			return c
		}
		return strings.Compare(a.Code, b.Code)
	})
	return r, nil
}

func cmpStrings(a, b string) int { return strings.Compare(a, b) }

// severityRank orders severities from critical to low, unknown last.
func severityRank(s string) int {
	switch s {
	case "critical":
		return 0
	case "high":
		return 1
	case "medium":
		return 2
	case "low":
		return 3
	}
	return 4
}

func severityOf(s *evidence.Score, code string) string {
	for _, g := range s.Gaps {
		if g.Code == code {
			return g.Severity
		}
	}
	return ""
}

// scope returns the state of d when it has a running deployment in q's scope, else nil.
func scope(d store.ArtifactDetail, q Query) *artifactState {
	st := &artifactState{det: d, kinds: map[evidence.Kind]EvidenceCount{}}
	seen := map[string]bool{}
	for _, dep := range d.Deployments {
		if dep.Ended() || dep.Org != q.Org || (q.Team != "" && dep.Team != q.Team) ||
			(q.Environment != "" && dep.Environment != q.Environment) {
			continue
		}
		key := dep.Environment + "\x00" + dep.Team
		if seen[key] {
			continue
		}
		seen[key] = true
		p := placement{env: dep.Environment, team: dep.Team}
		for i := range d.Scores {
			s := &d.Scores[i]
			if s.Environment == dep.Environment && s.Org == q.Org {
				p.score = s
				break
			}
		}
		st.places = append(st.places, p)
	}
	if len(st.places) == 0 {
		return nil
	}
	slices.SortFunc(st.places, func(a, b placement) int {
		return cmpStrings(a.env+"\x00"+a.team, b.env+"\x00"+b.team)
	})
	for _, e := range d.Evidence {
		c := st.kinds[e.Kind]
		c.Kind = e.Kind
		c.Documents++
		if e.Verification.Verified {
			c.Verified++
		}
		st.kinds[e.Kind] = c
		if e.Kind == evidence.KindProvenance && e.Verification.Verified && e.SubjectMatch {
			st.verified = true
		}
		if e.Kind == evidence.KindSBOM && e.SBOM != nil && e.SBOM.Components > st.components {
			st.components = e.SBOM.Components
		}
	}
	for _, p := range st.places {
		if p.score != nil && p.score.VerifiedProvenance {
			st.verified = true
		}
	}
	return st
}

// counts returns the counts of m by kind.
func counts(m map[evidence.Kind]EvidenceCount) []EvidenceCount {
	out := []EvidenceCount{}
	for _, c := range m {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b EvidenceCount) int { return strings.Compare(string(a.Kind), string(b.Kind)) })
	return out
}

func summarise(st *artifactState, exs []store.Exception, q Query) Artifact {
	a := Artifact{Digest: st.det.Image.Digest, Repository: st.det.Image.Repository, CollectedAt: st.det.CollectedAt.UTC(),
		VerifiedProvenance: st.verified, SBOMComponents: st.components, Evidence: counts(st.kinds),
		Environments: []string{}, Teams: []string{}, Gaps: []string{}, Accepted: []string{}}
	open := map[string]bool{}
	for _, p := range st.places {
		a.Environments = append(a.Environments, p.env)
		if p.team != "" {
			a.Teams = append(a.Teams, p.team)
		}
		if p.score == nil {
			continue
		}
		for _, code := range p.score.GapCodes() {
			a.Gaps = append(a.Gaps, code)
			if store.Accepting(exs, q.To, q.Org, p.team, p.env, a.Digest, a.Repository, code) == nil {
				open[code] = true
			}
		}
	}
	a.Environments = sortedSet(a.Environments)
	a.Teams = sortedSet(a.Teams)
	a.Gaps = sortedSet(a.Gaps)
	for _, c := range a.Gaps {
		if !open[c] {
			a.Accepted = append(a.Accepted, c)
		}
	}
	return a
}

func sortedSet(xs []string) []string {
	slices.Sort(xs)
	return slices.Compact(xs)
}

func acceptedOf(e store.Exception) AcceptedException {
	return AcceptedException{ID: e.ID, Code: e.Code, Scope: e.Scope, Owner: e.Owner, Reason: e.Reason,
		CreatedAt: e.CreatedAt.UTC(), ExpiresAt: e.ExpiresAt.UTC()}
}

// addPlace adds env and reason to img's entry in list, keeping list sorted by digest.
func addPlace(list []FailingArtifact, img evidence.ImageRef, env, reason string) []FailingArtifact {
	i, found := slices.BinarySearchFunc(list, img.Digest, func(f FailingArtifact, d evidence.Digest) int {
		return strings.Compare(string(f.Digest), string(d))
	})
	if !found {
		list = slices.Insert(list, i, FailingArtifact{Digest: img.Digest, Repository: img.Repository,
			Environments: []string{}, Gaps: []string{}})
	}
	f := &list[i]
	f.Environments = sortedSet(append(f.Environments, env))
	f.Gaps = sortedSet(append(f.Gaps, reason))
	return list
}

// assess evaluates req over the artifacts in scope.
func assess(m *Mapping, req Requirement, states []*artifactState, exs []store.Exception, q Query) RequirementResult {
	res := RequirementResult{Requirement: req, FailingArtifacts: []FailingArtifact{}, Exceptions: []AcceptedException{},
		Artifacts: len(states)}
	usedEx := map[string]store.Exception{}
	for _, st := range states {
		for _, k := range req.Kinds {
			c := st.kinds[k]
			res.EvidenceDocuments += c.Documents
			res.EvidenceVerified += c.Verified
		}
		var failing []FailingArtifact
		usedAny := false
		accept := func(p placement, code string) bool {
			e := store.Accepting(exs, q.To, q.Org, p.team, p.env, st.det.Image.Digest, st.det.Image.Repository, code)
			if e != nil {
				usedEx[e.ID] = *e
				usedAny = true
			}
			return e != nil
		}
		for _, p := range st.places {
			if p.score == nil {
				// The policy has not evaluated the artifact here: nothing shows that it meets
				// the requirement.
				failing = addPlace(failing, st.det.Image, p.env, "rule:"+RulePolicyEvaluated)
				continue
			}
			for _, code := range p.score.GapCodes() {
				if slices.Contains(req.Codes, code) && !accept(p, code) {
					failing = addPlace(failing, st.det.Image, p.env, code)
				}
			}
			for _, rule := range req.Rules {
				var ok bool
				switch rule {
				case RuleSBOMInventory:
					ok = st.components > 0
				case RuleVerifiedProvenance:
					ok = st.verified
				case RulePolicyEvaluated:
					ok = true // p.score is set
				}
				if ok {
					continue
				}
				if by := m.Rules[rule].AcceptedBy; by != "" && accept(p, by) {
					continue
				}
				failing = addPlace(failing, st.det.Image, p.env, "rule:"+rule)
			}
		}
		switch {
		case len(failing) > 0:
			res.Failing++
			res.FailingArtifacts = append(res.FailingArtifacts, failing...)
		case usedAny:
			res.Satisfying++
			res.Accepted++
		default:
			res.Satisfying++
		}
	}
	for _, e := range usedEx {
		res.Exceptions = append(res.Exceptions, acceptedOf(e))
	}
	slices.SortFunc(res.Exceptions, func(a, b AcceptedException) int { return strings.Compare(a.ID, b.ID) })
	switch {
	case res.Artifacts == 0 || res.Satisfying == 0:
		res.Status = NotSatisfied
	case res.Failing == 0:
		res.Status = Satisfied
	default:
		res.Status = PartiallySatisfied
	}
	return res
}
