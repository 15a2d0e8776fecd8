package github

import (
	"context"
	"time"
)

// SetClock replaces c's clock and the way it waits, so that tests need not wait.
func SetClock(c *Client, now func() time.Time, sleep func(ctx context.Context, d time.Duration) error) {
	c.now, c.sleep = now, sleep
}
