package clickhouse

import (
	"context"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// SeenRange returns when the deployment of d with key was first and last seen, for tests of what
// only analytics read.
func SeenRange(ctx context.Context, s *Store, d evidence.Digest, key string) (first, last time.Time, err error) {
	err = s.conn.QueryRow(ctx, `SELECT first_seen, last_seen FROM deployments FINAL
		WHERE digest = ? AND deployment_key = ?`, string(d), key).Scan(&first, &last)
	return first.UTC(), last.UTC(), err
}
