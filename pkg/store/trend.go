package store

import (
	"fmt"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// The groupings of a trend.
const (
	TrendByOrg  = "org"
	TrendByTeam = "team"
	TrendByEnv  = "env"
)

// MaxTrendDays is the longest span of a trend, in days.
const MaxTrendDays = 366

// RollupAll stands for every org, every team or every environment in the roll-ups: for each day,
// RollupCoverage records the coverage of every combination of an org, a team and an
// environment, each a label or RollupAll, as Coverage gives it for the labels among them. It is
// not a valid label (see evidence.Deployment.Validate), so it never names a group.
const RollupAll = "*"

// TrendQuery asks for the daily coverage from From to To of each value of the grouping By, among
// the deployments matching every non-empty field of Org, Team and Environment: each point is
// what Coverage returned, at the roll-up of its day, for the CoverageQuery of the point's group
// and the filters (see TrendPoint). Teams are org-scoped labels, but a Team without an Org
// matches that team in every org, as a CoverageQuery does.
type TrendQuery struct {
	// From and To are the first and last day, each the UTC day of the time given.
	From, To time.Time
	// By is TrendByOrg, TrendByTeam or TrendByEnv.
	By          string
	Org         string
	Team        string
	Environment string
}

// Validate reports whether q's days are from 1970 to 2105 and in order, at most MaxTrendDays
// apart, whether By is a known grouping, and whether no filter is RollupAll. The error wraps
// evidence.ErrInvalid.
func (q TrendQuery) Validate() error {
	switch q.By {
	case TrendByOrg, TrendByTeam, TrendByEnv:
	default:
		return fmt.Errorf("%w: trend query: by %q: want %q, %q or %q", evidence.ErrInvalid, q.By,
			TrendByOrg, TrendByTeam, TrendByEnv)
	}
	for _, f := range []struct{ name, value string }{{"org", q.Org}, {"team", q.Team}, {"environment", q.Environment}} {
		if f.value == RollupAll {
			return fmt.Errorf("%w: trend query: %s %q: not a label", evidence.ErrInvalid, f.name, f.value)
		}
	}
	from, to := Day(q.From), Day(q.To)
	if err := checkTime("trend query from", from); err != nil {
		return err
	}
	if err := checkTime("trend query to", to); err != nil {
		return err
	}
	if to.Before(from) {
		return fmt.Errorf("%w: trend query: to %s is before from %s", evidence.ErrInvalid,
			to.Format(time.DateOnly), from.Format(time.DateOnly))
	}
	if days := int(to.Sub(from) / (24 * time.Hour)); days > MaxTrendDays {
		return fmt.Errorf("%w: trend query: %d days from %s to %s: want at most %d", evidence.ErrInvalid, days,
			from.Format(time.DateOnly), to.Format(time.DateOnly), MaxTrendDays)
	}
	return nil
}

// Day returns the start of t's UTC day.
func Day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// CheckDay reports whether day is a day a store can record a roll-up for: from 1970 to 2105.
// The error wraps evidence.ErrInvalid.
func CheckDay(day time.Time) error {
	return checkTime("roll-up day", Day(day))
}

// TrendPoint is the coverage of one group value on one day: what Coverage returned, when the
// day was last rolled up, for a CoverageQuery with the query's By field set to Group and its
// other fields set to the TrendQuery's filters. An artifact counts once however many
// environments, teams or orgs of the group it is deployed in. The group "" of TrendByTeam holds
// the deployments without a team, which a CoverageQuery cannot single out.
type TrendPoint struct {
	// Day is the start of the UTC day.
	Day time.Time `json:"day"`
	// Group is the org, team or environment, as the query's By says.
	Group string `json:"group"`
	Total int    `json:"total"`
	// ByLevel always has the keys "L0" to "L3".
	ByLevel            map[string]int `json:"by_level"`
	VerifiedProvenance int            `json:"verified_provenance"`
	WithGaps           int            `json:"with_gaps"`
}
