package sqlite

import (
	"errors"
	"fmt"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

// The times a store accepts: what both stores can keep (ClickHouse's DateTime ends in 2106; a
// row's version is its time in Unix nanoseconds, which must not be negative).
var (
	minTime = time.Unix(0, 0)
	maxTime = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)
)

// validate reports whether ev can be stored: whether it is valid and every time in it is set and
// within range. The error always wraps evidence.ErrInvalid, including ev.Validate's errors that
// do not (a deployment or score of another artifact).
func validate(ev store.Evaluation) error {
	err := ev.Validate()
	if err == nil {
		err = validateTimes(ev)
	}
	if err != nil && !errors.Is(err, evidence.ErrInvalid) {
		err = fmt.Errorf("%w: %w", evidence.ErrInvalid, err)
	}
	return err
}

func validateTimes(ev store.Evaluation) error {
	check := func(what string, t time.Time) error {
		if t.Before(minTime) || !t.Before(maxTime) {
			return fmt.Errorf("%w: %s %s: want a time from 1970 to 2105", evidence.ErrInvalid, what, t.Format(time.RFC3339))
		}
		return nil
	}
	if err := check("collected_at", ev.Evidence.CollectedAt); err != nil {
		return err
	}
	for _, d := range ev.Deployments {
		if err := check("deployment observed_at", d.ObservedAt); err != nil {
			return err
		}
	}
	for _, s := range ev.Scores {
		if err := check("score evaluated_at", s.EvaluatedAt); err != nil {
			return err
		}
	}
	return nil
}
