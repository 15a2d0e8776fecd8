package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aspmhq/aspm/pkg/event"
)

// Webhook headers.
const (
	// HeaderTimestamp carries the Unix time (seconds) the request was signed at.
	HeaderTimestamp = "X-ASPM-Timestamp"
	// HeaderSignature carries "sha256=" and the hex HMAC-SHA256 of timestamp + "." + body.
	HeaderSignature = "X-ASPM-Signature"
	// HeaderDelivery carries the event's ID: the same for every retry, so a receiver can
	// drop repeats.
	HeaderDelivery = "X-ASPM-Delivery"
	// HeaderEvent carries the event's subject, e.g. aspm.gap.opened.
	HeaderEvent = "X-ASPM-Event"
)

// Errors of VerifySignature.
var (
	ErrBadSignature = errors.New("webhook signature does not match")
	ErrStale        = errors.New("webhook timestamp outside the tolerance")
)

// Sign returns the signature header value of body sent at ts (Unix seconds) with secret.
func Sign(secret []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks a webhook request for receivers: ts and sig are the X-ASPM-Timestamp
// and X-ASPM-Signature headers, body the raw request body. It returns an error wrapping
// ErrStale when ts is more than tolerance away from now (a replayed request), or ErrBadSignature
// when sig is not the HMAC of ts and body under secret; nil when the request is authentic.
func VerifySignature(secret []byte, ts, sig string, body []byte, now time.Time, tolerance time.Duration) error {
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrStale, ts)
	}
	if d := now.Sub(time.Unix(t, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed %s from now, tolerance %s", ErrStale, d.Round(time.Second), tolerance)
	}
	if !strings.HasPrefix(sig, "sha256=") || !hmac.Equal([]byte(sig), []byte(Sign(secret, t, body))) {
		return ErrBadSignature
	}
	return nil
}

// WebhookPayload is the JSON body of a webhook request.
type WebhookPayload struct {
	// Type is "gap.opened" or "gap.closed".
	Type string `json:"type"`
	// Sink is the sink's name in the configuration.
	Sink string `json:"sink"`
	// Group is the group key the gap belongs to under the sink's grouping rule.
	Group string           `json:"group"`
	Event event.GapChanged `json:"event"`
}

// webhook posts signed JSON.
type webhook struct {
	name   string
	url    string
	secret secret
	c      *client
}

func newWebhook(name string, cfg WebhookConfig, hc *http.Client, now nowFunc) (*webhook, error) {
	sec, err := readSecret(cfg.SecretEnv, cfg.SecretFile)
	if err != nil {
		return nil, err
	}
	return &webhook{name: name, url: cfg.URL, secret: sec, c: &client{http: hc, now: now}}, nil
}

// deliver posts p; the signature covers the exact bytes sent.
func (w *webhook) deliver(ctx context.Context, subject string, p WebhookPayload) error {
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding webhook payload: %w", err)
	}
	ts := w.c.now().Unix()
	h := http.Header{}
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Sign([]byte(w.secret), ts, body))
	h.Set(HeaderDelivery, p.Event.ID)
	h.Set(HeaderEvent, subject)
	h.Set("User-Agent", "aspm-notifier")
	if _, err := w.c.send(ctx, http.MethodPost, w.url, body, h, nil); err != nil {
		return fmt.Errorf("webhook %s: %w", w.name, err)
	}
	return nil
}
