package evidence_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/evidence"
)

func validScore() evidence.Score {
	return evidence.Score{
		Image:        evidence.ImageRef{Repository: "ghcr.io/acme/api", Digest: evidence.Digest("sha256:" + hexOf(64))},
		Environment:  "prod",
		Org:          "acme",
		Level:        2,
		Risk:         40,
		EvaluationID: "eval-1",
		EvaluatedAt:  time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
	}
}

func TestScoreValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*evidence.Score)
		ok     bool
	}{
		{name: "valid", modify: func(*evidence.Score) {}, ok: true},
		{name: "level 0", modify: func(s *evidence.Score) { s.Level = 0 }, ok: true},
		{name: "level 3", modify: func(s *evidence.Score) { s.Level = 3 }, ok: true},
		{name: "risk 0", modify: func(s *evidence.Score) { s.Risk = 0 }, ok: true},
		{name: "risk 100", modify: func(s *evidence.Score) { s.Risk = 100 }, ok: true},
		{name: "team is optional", modify: func(s *evidence.Score) { s.Team = "" }, ok: true},
		{name: "level -1", modify: func(s *evidence.Score) { s.Level = -1 }},
		{name: "level 4", modify: func(s *evidence.Score) { s.Level = 4 }},
		{name: "risk -1", modify: func(s *evidence.Score) { s.Risk = -1 }},
		{name: "risk 101", modify: func(s *evidence.Score) { s.Risk = 101 }},
		{name: "no environment", modify: func(s *evidence.Score) { s.Environment = "" }},
		{name: "no org", modify: func(s *evidence.Score) { s.Org = "" }},
		{name: "no evaluation id", modify: func(s *evidence.Score) { s.EvaluationID = "" }},
		{name: "invalid image", modify: func(s *evidence.Score) { s.Image.Digest = "sha256:00" }},
		{name: "zero image", modify: func(s *evidence.Score) { s.Image = evidence.ImageRef{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validScore()
			tt.modify(&s)
			err := s.Validate()
			if tt.ok && err != nil {
				t.Errorf("Validate(): %v", err)
			}
			if !tt.ok && !errors.Is(err, evidence.ErrInvalid) {
				t.Errorf("Validate() = %v, want an error wrapping ErrInvalid", err)
			}
		})
	}
}

func TestLevel(t *testing.T) {
	tests := []struct {
		level evidence.Level
		str   string
		ok    bool
	}{
		{-1, "L-1", false},
		{0, "L0", true},
		{1, "L1", true},
		{2, "L2", true},
		{3, "L3", true},
		{4, "L4", false},
	}
	for _, tt := range tests {
		t.Run(tt.str, func(t *testing.T) {
			if got := tt.level.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			err := tt.level.Validate()
			if tt.ok && err != nil {
				t.Errorf("Validate(): %v", err)
			}
			if !tt.ok && !errors.Is(err, evidence.ErrInvalid) {
				t.Errorf("Validate() = %v, want an error wrapping ErrInvalid", err)
			}
		})
	}
}

func TestGapCodes(t *testing.T) {
	tests := []struct {
		name string
		gaps []evidence.Gap
		want []string
	}{
		{name: "none", gaps: nil, want: []string{}},
		{name: "one", gaps: []evidence.Gap{{Code: "provenance.missing", Severity: "high"}}, want: []string{"provenance.missing"}},
		{
			name: "in order, duplicates kept",
			gaps: []evidence.Gap{
				{Code: "sbom.missing", Rule: "sbom"},
				{Code: "provenance.unverified", Rule: "provenance"},
				{Code: "sbom.missing", Rule: "sbom2"},
			},
			want: []string{"sbom.missing", "provenance.unverified", "sbom.missing"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validScore()
			s.Gaps = tt.gaps
			if diff := cmp.Diff(tt.want, s.GapCodes()); diff != "" {
				t.Errorf("GapCodes() (-want +got):\n%s", diff)
			}
		})
	}
}
