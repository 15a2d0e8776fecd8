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

// TrendQuery asks for the daily coverage from From to To, grouped by By, of the roll-up groups
// matching every non-empty field of Org, Team and Environment.
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
// apart, and whether By is a known grouping. The error wraps evidence.ErrInvalid.
func (q TrendQuery) Validate() error {
	switch q.By {
	case TrendByOrg, TrendByTeam, TrendByEnv:
	default:
		return fmt.Errorf("%w: trend query: by %q: want %q, %q or %q", evidence.ErrInvalid, q.By,
			TrendByOrg, TrendByTeam, TrendByEnv)
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

// TrendPoint is the coverage of one group value on one day: the sums of the roll-up rows of the
// (org, team, environment) groups that make up the value. An artifact deployed in two such
// groups counts in each.
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
