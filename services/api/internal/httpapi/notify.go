package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/services/api/internal/notify"
)

// Notifications is what the API shows of the notifier: the tickets filed for gaps and the
// notifications that could not be delivered. *notify.Notifier is one.
type Notifications interface {
	// Tickets returns, by fingerprint, the tickets filed for gaps.
	Tickets(ctx context.Context, gaps []notify.Gap) (map[string][]notify.Ticket, error)
	// TicketsVersion changes whenever a ticket does; it is part of the gap feed's ETag.
	TicketsVersion(ctx context.Context) (string, error)
	// DeadLetters returns the undeliverable notifications, newest first.
	DeadLetters(ctx context.Context) ([]notify.DeadLetter, error)
}

var _ Notifications = (*notify.Notifier)(nil)

// GapItemView is one gap of GET /v1/gaps with the tickets the notifier filed for it.
type GapItemView struct {
	store.GapItem
	Tickets []notify.Ticket `json:"tickets,omitempty"`
}

// ticketsVersion is the notifier's state version, "" when no notifier runs.
func (a *API) ticketsVersion(ctx context.Context) (string, error) {
	if a.Notifications == nil {
		return "", nil
	}
	v, err := a.Notifications.TicketsVersion(ctx)
	if err != nil {
		return "", fmt.Errorf("reading the notifier's state: %w", err)
	}
	return v, nil
}

// withTickets adds to each gap the tickets filed for it.
func (a *API) withTickets(ctx context.Context, items []store.GapItem) ([]GapItemView, error) {
	out := make([]GapItemView, len(items))
	for i, it := range items {
		out[i].GapItem = it
	}
	if a.Notifications == nil || len(items) == 0 {
		return out, nil
	}
	gaps := make([]notify.Gap, len(items))
	for i, it := range items {
		gaps[i] = notify.Gap{Fingerprint: it.Fingerprint, Digest: string(it.Image.Digest), Environment: it.Environment,
			Org: it.Org, Team: it.Team, Code: it.Code, Severity: it.Severity}
	}
	tickets, err := a.Notifications.Tickets(ctx, gaps)
	if err != nil {
		return nil, fmt.Errorf("looking up tickets: %w", err)
	}
	for i := range out {
		out[i].Tickets = tickets[out[i].Fingerprint]
	}
	return out, nil
}

// deadLetters serves GET /v1/notifications/dead-letters?limit: the notifications the
// notifier gave up on, newest first, as far as the token may see their gaps.
func (a *API) deadLetters(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if limit == 0 {
		limit = store.DefaultPageLimit
	}
	items := []notify.DeadLetter{}
	if a.Notifications != nil {
		all, err := a.Notifications.DeadLetters(r.Context())
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		tok := principal(r)
		for _, d := range all {
			if len(items) < limit && tok.Sees(d.Org, d.Team, d.Env) {
				items = append(items, d)
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "enabled": a.Notifications != nil})
}
