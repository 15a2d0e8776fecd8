package evidence

import (
	"fmt"
	"time"
)

// Level is a SLSA build track level, 0 to 3.
type Level int

// String returns "L0" … "L3".
func (l Level) String() string { return fmt.Sprintf("L%d", int(l)) }

// Validate reports whether l is between 0 and 3.
func (l Level) Validate() error {
	if l < 0 || l > 3 {
		return invalidf("level %d: want 0 to 3", int(l))
	}
	return nil
}

// Gap is one shortfall in an artifact's provenance, as a policy rule found it.
type Gap struct {
	// Code is a stable identifier from the gap catalogue, e.g. "provenance.missing".
	Code     string `json:"code"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
	// Rule names the policy rule that produced the gap.
	Rule string `json:"rule"`
}

// Score is one evaluation of an artifact deployed in an environment.
type Score struct {
	Image       ImageRef `json:"image"`
	Environment string   `json:"environment"`
	Org         string   `json:"org"`
	Team        string   `json:"team,omitempty"`
	Level       Level    `json:"slsa_level"`
	// Risk is 0 (none) to 100.
	Risk               int   `json:"risk"`
	VerifiedProvenance bool  `json:"verified_provenance"`
	Gaps               []Gap `json:"gaps"`
	// Explanation lists, in order, the rules that decided the level.
	Explanation   []string `json:"explanation,omitempty"`
	PolicyVersion string   `json:"policy_version,omitempty"`
	// EvaluationID identifies the evaluation; re-evaluating the same message yields the same ID.
	EvaluationID string    `json:"evaluation_id"`
	EvaluatedAt  time.Time `json:"evaluated_at"`
}

// Validate reports whether s names an image, environment and org, with a level and risk in range.
func (s Score) Validate() error {
	if err := s.Image.Validate(); err != nil {
		return err
	}
	if err := s.Level.Validate(); err != nil {
		return err
	}
	if s.Environment == "" || s.Org == "" || s.EvaluationID == "" {
		return invalidf("score for %s: environment, org and evaluation_id are required", s.Image)
	}
	if s.Risk < 0 || s.Risk > 100 {
		return invalidf("score for %s: risk %d: want 0 to 100", s.Image, s.Risk)
	}
	return nil
}

// GapCodes returns the codes of s's gaps, in order.
func (s Score) GapCodes() []string {
	codes := make([]string, len(s.Gaps))
	for i, g := range s.Gaps {
		codes[i] = g.Code
	}
	return codes
}
