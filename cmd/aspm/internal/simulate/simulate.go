// Package simulate answers "what if": it re-scores the stored evidence of every running
// artifact with a candidate policy, writes nothing, and counts per environment how many
// artifacts would gain or lose each level and gap against their current scores.
package simulate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/pkg/store"
)

// Source is where the stored evidence and current scores come from.
type Source interface {
	EachArtifact(ctx context.Context, fn func(store.ArtifactDetail) error) error
}

// Count is a before/after pair: under the current scores, and under the candidate policy.
type Count struct {
	Before int `json:"before"`
	After  int `json:"after"`
}

// Environment is the blast radius of the candidate policy in one environment.
type Environment struct {
	Artifacts int `json:"artifacts"`
	// Levels counts artifacts per level (L0–L3) before and after.
	Levels map[string]Count `json:"levels"`
	// Moves counts artifacts whose level changes, e.g. "L2->L3".
	Moves map[string]int `json:"moves"`
	// Gaps counts, per gap code, artifacts with it before and after.
	Gaps map[string]Count `json:"gaps"`
	// Changed lists the artifacts whose level or gaps change.
	Changed []Change `json:"changed"`
}

// Change is one artifact whose decision would change.
type Change struct {
	Image      string   `json:"image"`
	From       string   `json:"from"`
	To         string   `json:"to"`
	GapsOpened []string `json:"gaps_opened,omitempty"`
	GapsClosed []string `json:"gaps_closed,omitempty"`
}

// Result is the simulation, per environment.
type Result struct {
	Policy       string                  `json:"policy_version"`
	Environments map[string]*Environment `json:"environments"`
}

// Run re-scores every running artifact in src with pol; only environments named env are
// considered when env is not empty. It writes nothing.
func Run(ctx context.Context, src Source, pol *policy.Engine, env string) (*Result, error) {
	res := &Result{Policy: pol.Version(), Environments: map[string]*Environment{}}
	err := src.EachArtifact(ctx, func(a store.ArtifactDetail) error {
		for _, cur := range a.Scores {
			if env != "" && cur.Environment != env {
				continue
			}
			dep := deploymentIn(a.Deployments, cur.Environment)
			if dep == nil {
				continue // no longer running there
			}
			d, err := pol.Evaluate(ctx, policy.Input{Artifact: a.Image, Environment: cur.Environment, Deployment: *dep, Evidence: a.Evidence})
			if err != nil {
				return fmt.Errorf("evaluating %s in %s: %w", a.Image, cur.Environment, err)
			}
			res.add(a.Image, cur, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading stored evidence: %w", err)
	}
	for _, e := range res.Environments {
		slices.SortFunc(e.Changed, func(a, b Change) int { return strings.Compare(a.Image, b.Image) })
	}
	return res, nil
}

// deploymentIn returns the newest running deployment in env.
func deploymentIn(deps []evidence.Deployment, env string) *evidence.Deployment {
	var out *evidence.Deployment
	for i := range deps {
		d := &deps[i]
		if d.Environment == env && !d.Ended() && (out == nil || d.ObservedAt.After(out.ObservedAt)) {
			out = d
		}
	}
	return out
}

func codes(gaps []evidence.Gap) []string {
	var out []string
	for _, g := range gaps {
		if !slices.Contains(out, g.Code) {
			out = append(out, g.Code)
		}
	}
	slices.Sort(out)
	return out
}

func (r *Result) add(img evidence.ImageRef, cur evidence.Score, d policy.Decision) {
	e := r.Environments[cur.Environment]
	if e == nil {
		e = &Environment{Levels: map[string]Count{}, Moves: map[string]int{}, Gaps: map[string]Count{}, Changed: []Change{}}
		for _, l := range []string{"L0", "L1", "L2", "L3"} {
			e.Levels[l] = Count{}
		}
		r.Environments[cur.Environment] = e
	}
	e.Artifacts++
	from, to := cur.Level.String(), d.Level.String()
	c := e.Levels[from]
	c.Before++
	e.Levels[from] = c
	c = e.Levels[to]
	c.After++
	e.Levels[to] = c
	if from != to {
		e.Moves[from+"->"+to]++
	}
	before, after := codes(cur.Gaps), codes(d.Gaps)
	for _, g := range before {
		c := e.Gaps[g]
		c.Before++
		e.Gaps[g] = c
	}
	for _, g := range after {
		c := e.Gaps[g]
		c.After++
		e.Gaps[g] = c
	}
	ch := Change{Image: img.String(), From: from, To: to}
	for _, g := range after {
		if !slices.Contains(before, g) {
			ch.GapsOpened = append(ch.GapsOpened, g)
		}
	}
	for _, g := range before {
		if !slices.Contains(after, g) {
			ch.GapsClosed = append(ch.GapsClosed, g)
		}
	}
	if from != to || len(ch.GapsOpened) > 0 || len(ch.GapsClosed) > 0 {
		e.Changed = append(e.Changed, ch)
	}
}

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes r for people: per environment, levels and gaps before → after (with the
// difference), then the artifacts that change.
func WriteText(w io.Writer, r *Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	envs := make([]string, 0, len(r.Environments))
	for env := range r.Environments {
		envs = append(envs, env)
	}
	slices.Sort(envs)
	if len(envs) == 0 {
		fmt.Fprintln(tw, "no running artifacts with scores to simulate")
	}
	for i, env := range envs {
		e := r.Environments[env]
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "%s (%d artifacts) with policy %s\n", env, e.Artifacts, r.Policy)
		fmt.Fprintln(tw, "  \tnow\tcandidate\tchange")
		for _, l := range []string{"L0", "L1", "L2", "L3"} {
			c := e.Levels[l]
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\n", l, c.Before, c.After, delta(c))
		}
		gaps := make([]string, 0, len(e.Gaps))
		for g := range e.Gaps {
			gaps = append(gaps, g)
		}
		slices.Sort(gaps)
		for _, g := range gaps {
			c := e.Gaps[g]
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\n", g, c.Before, c.After, delta(c))
		}
		for _, ch := range e.Changed {
			line := fmt.Sprintf("  ~ %s\t%s -> %s", ch.Image, ch.From, ch.To)
			if len(ch.GapsOpened) > 0 {
				line += "  +" + strings.Join(ch.GapsOpened, " +")
			}
			if len(ch.GapsClosed) > 0 {
				line += "  -" + strings.Join(ch.GapsClosed, " -")
			}
			fmt.Fprintln(tw, line)
		}
	}
	return tw.Flush()
}

func delta(c Count) string {
	switch d := c.After - c.Before; {
	case d > 0:
		return fmt.Sprintf("+%d", d)
	case d < 0:
		return fmt.Sprint(d)
	}
	return "="
}
