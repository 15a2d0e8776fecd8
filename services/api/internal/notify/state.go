package notify

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket names of the notifier's state.
const (
	// BucketTickets holds one Record per (sink, group): the ticket and its gaps. No expiry.
	BucketTickets = "aspm_notify"
	// BucketLog holds dead letters and webhook delivery receipts, kept for LogRetention.
	BucketLog = "aspm_notify_log"
)

// LogRetention is how long dead letters and delivery receipts are kept.
const LogRetention = 30 * 24 * time.Hour

// maxApplied bounds the event IDs a Record remembers to ignore redeliveries.
const maxApplied = 200

// Ticket is an issue a sink opened for a group of gaps.
type Ticket struct {
	Sink string `json:"sink"`
	// Key is the identifier: Jira's "PROJ-12", GitHub's "owner/repo#12".
	Key string `json:"key"`
	URL string `json:"url"`
	// Number is GitHub's issue number; 0 for Jira.
	Number int `json:"number,omitempty"`
	// State is "open" or "closed", as the notifier last left it.
	State string `json:"state"`
}

// Ticket states.
const (
	StateOpen   = "open"
	StateClosed = "closed"
)

// GapState is what a Record knows of one fingerprint.
type GapState struct {
	Open bool `json:"open"`
	// At is the time of the event that set Open; older events do not change it.
	At   time.Time `json:"at"`
	Code string    `json:"code"`
}

// Record is the notifier's state for one (sink, group): updated with compare-and-swap.
type Record struct {
	Sink   string              `json:"sink"`
	Group  string              `json:"group"`
	Marker string              `json:"marker"`
	Ticket *Ticket             `json:"ticket,omitempty"`
	Gaps   map[string]GapState `json:"gaps"`
	// Applied lists the IDs of the latest events applied, so a redelivered one changes nothing.
	Applied []string  `json:"applied"`
	Updated time.Time `json:"updated"`
}

func (r *Record) openCount() int {
	n := 0
	for _, g := range r.Gaps {
		if g.Open {
			n++
		}
	}
	return n
}

// DeadLetter is an event a sink could not be told about after the allowed attempts.
type DeadLetter struct {
	ID       string          `json:"id"`
	Sink     string          `json:"sink"`
	Subject  string          `json:"subject"`
	EventID  string          `json:"event_id"`
	Org      string          `json:"org"`
	Team     string          `json:"team,omitempty"`
	Env      string          `json:"environment"`
	Reason   string          `json:"reason"`
	Attempts int             `json:"attempts"`
	Time     time.Time       `json:"time"`
	Event    json.RawMessage `json:"event,omitempty"`
}

// state is the notifier's KV storage.
type state struct {
	tickets jetstream.KeyValue
	log     jetstream.KeyValue
}

// openState creates (idempotently) and opens the buckets.
func openState(ctx context.Context, js jetstream.JetStream, replicas int) (*state, error) {
	replicas = max(replicas, 1)
	t, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: BucketTickets,
		Description: "notifier: ticket per sink and gap group", History: 1, Storage: jetstream.FileStorage, Replicas: replicas})
	if err != nil {
		return nil, fmt.Errorf("creating bucket %s: %w", BucketTickets, err)
	}
	l, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: BucketLog,
		Description: "notifier: dead letters and webhook receipts", History: 1, TTL: LogRetention,
		Storage: jetstream.FileStorage, Replicas: replicas})
	if err != nil {
		return nil, fmt.Errorf("creating bucket %s: %w", BucketLog, err)
	}
	return &state{tickets: t, log: l}, nil
}

func hashHex(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// recordKey is the KV key of the record of group in sink.
func recordKey(sink, group string) string { return "t." + sink + "." + hashHex(sink, group)[:32] }

// markerLabel is the label that finds a group's ticket in the remote tracker.
func markerLabel(sink, group string) string { return "aspm-" + hashHex(sink, group)[:16] }

// errConflict says another writer changed the record first.
var errConflict = errors.New("record changed concurrently")

// get returns the record of key and its revision; 0 and an empty record when there is none.
func (s *state) get(ctx context.Context, key string) (Record, uint64, error) {
	var r Record
	e, err := s.tickets.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return r, 0, nil
	}
	if err != nil {
		return r, 0, fmt.Errorf("reading notifier record %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return r, 0, fmt.Errorf("decoding notifier record %s: %w", key, err)
	}
	return r, e.Revision(), nil
}

// put writes r under key if it is still at revision rev (0: if it does not exist); it returns
// errConflict when it is not.
func (s *state) put(ctx context.Context, key string, r Record, rev uint64) error {
	if len(r.Applied) > maxApplied {
		r.Applied = r.Applied[len(r.Applied)-maxApplied:]
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding notifier record: %w", err)
	}
	if rev == 0 {
		_, err = s.tickets.Create(ctx, key, b)
	} else {
		_, err = s.tickets.Update(ctx, key, b, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return errConflict
	}
	if err != nil {
		return fmt.Errorf("writing notifier record %s: %w", key, err)
	}
	return nil
}

func receiptKey(sink, eventID string) string { return "r." + sink + "." + hashHex(eventID)[:32] }

// delivered reports whether a receipt for eventID in sink exists.
func (s *state) delivered(ctx context.Context, sink, eventID string) (bool, error) {
	_, err := s.log.Get(ctx, receiptKey(sink, eventID))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading delivery receipt: %w", err)
	}
	return true, nil
}

func (s *state) markDelivered(ctx context.Context, sink, eventID string, at time.Time) error {
	if _, err := s.log.Put(ctx, receiptKey(sink, eventID), []byte(at.UTC().Format(time.RFC3339Nano))); err != nil {
		return fmt.Errorf("writing delivery receipt: %w", err)
	}
	return nil
}

// putDeadLetter stores d; the same event dead-lettered twice for a sink keeps one entry.
func (s *state) putDeadLetter(ctx context.Context, d DeadLetter) error {
	d.ID = hashHex(d.Sink, d.EventID)[:24]
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encoding dead letter: %w", err)
	}
	if _, err := s.log.Put(ctx, "d."+d.ID, b); err != nil {
		return fmt.Errorf("writing dead letter: %w", err)
	}
	return nil
}

// maxDeadLetters bounds what one listing reads.
const maxDeadLetters = 1000

// deadLetters returns up to maxDeadLetters dead letters, newest first.
func (s *state) deadLetters(ctx context.Context) ([]DeadLetter, error) {
	keys, err := s.log.ListKeysFiltered(ctx, "d.*")
	if err != nil {
		return nil, fmt.Errorf("listing dead letters: %w", err)
	}
	defer keys.Stop()
	out := []DeadLetter{}
	for key := range keys.Keys() {
		if len(out) >= maxDeadLetters {
			break
		}
		e, err := s.log.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading dead letter %s: %w", key, err)
		}
		var d DeadLetter
		if err := json.Unmarshal(e.Value(), &d); err != nil {
			return nil, fmt.Errorf("decoding dead letter %s: %w", key, err)
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b DeadLetter) int {
		return cmp.Or(b.Time.Compare(a.Time), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// version identifies the state of the ticket bucket: it changes with every write.
func (s *state) version(ctx context.Context) (string, error) {
	st, err := s.tickets.Status(ctx)
	if err != nil {
		return "", fmt.Errorf("reading notifier state: %w", err)
	}
	if bs, ok := st.(interface{ StreamInfo() *jetstream.StreamInfo }); ok && bs.StreamInfo() != nil {
		return strconv.FormatUint(bs.StreamInfo().State.LastSeq, 10), nil
	}
	return strconv.FormatUint(st.Values(), 10), nil
}
