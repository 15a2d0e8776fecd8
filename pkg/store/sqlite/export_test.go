package sqlite

import (
	"context"
	"time"
)

// SeenRange returns when the deployment with key was first and last seen, for tests of what
// only analytics read.
func SeenRange(ctx context.Context, s *Store, key string) (first, last time.Time, err error) {
	var f, l int64
	err = s.db.QueryRowContext(ctx, `SELECT first_seen, last_seen FROM deployments WHERE deployment_key = ?`, key).Scan(&f, &l)
	return time.Unix(0, f).UTC(), time.Unix(0, l).UTC(), err
}
