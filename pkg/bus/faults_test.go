package bus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
)

// poison is one hostile message and what its dead letter must say.
type poison struct {
	name   string
	data   []byte
	reason string // a substring of the dead letter's reason
	// kept is true when the payload is too large for the dead letter and is kept in the
	// object store instead.
	kept bool
}

func poisons(schema string) []poison {
	huge := `{"schema":"` + schema + `","id":"huge","pad":"` + strings.Repeat("x", bus.MaxConsumeSize) + `"}`
	return []poison{
		{name: "invalid JSON", data: []byte(`{"schema":`), reason: "malformed message"},
		{name: "unknown schema version", data: []byte(`{"schema":"` + strings.Replace(schema, "/v1", "/v9", 1) + `","id":"x"}`), reason: "unknown schema"},
		{name: "huge payload", data: []byte(huge), reason: "exceeds the", kept: true},
		// Not UTF-8 and just under NATS's 1 MiB limit: base64 in the dead letter would pass it.
		{name: "huge binary payload", data: bytes.Repeat([]byte{0xff}, 1000<<10), reason: "exceeds the", kept: true},
		{name: "valid JSON, no id", data: []byte(`{"schema":"` + schema + `"}`), reason: "no id"},
	}
}

// TestPoisonMessagesAreDeadLettered publishes, on the subjects ingest and the scorer consume, a
// valid message, every kind of poison message, and another valid message: each poison message
// lands on its consumer's dead-letter subject with the reason and its payload, the valid ones
// are handled once each, in order, and both consumers end with nothing pending.
func TestPoisonMessagesAreDeadLettered(t *testing.T) {
	_, b := bustest.Connect(t)
	ctx := context.Background()
	js := b.JetStream()
	t0 := time.Unix(1700000000, 0).UTC()

	type consumerCase struct {
		consumer, subject, schema string
		valid                     func(i int) (bus.Message, string)
		decode                    func(data []byte) (string, error)
	}
	cases := []consumerCase{
		{
			consumer: bus.ConsumerIngest, subject: event.SubjectDeployObserved, schema: event.SchemaDeployObserved,
			valid: func(i int) (bus.Message, string) {
				env := fmt.Sprintf("env-%d", i)
				return event.NewDeployObserved(deployment(env, t0.Add(time.Duration(i)*time.Second))), env
			},
			decode: func(data []byte) (string, error) {
				var m event.DeployObserved
				err := event.Decode(data, event.SchemaDeployObserved, &m)
				return m.Deployment.Environment, err
			},
		},
		{
			consumer: bus.ConsumerScorer, subject: event.SubjectEvidenceCollected, schema: event.SchemaEvidenceCollected,
			valid: func(i int) (bus.Message, string) {
				trigger := fmt.Sprintf("trigger-%d", i)
				return event.NewEvidenceCollected(trigger, evidence.ArtifactEvidence{Image: img, CollectedAt: t0.Add(time.Duration(i) * time.Second), Evidence: []evidence.Evidence{}}), trigger
			},
			decode: func(data []byte) (string, error) {
				var m event.EvidenceCollected
				err := event.Decode(data, event.SchemaEvidenceCollected, &m)
				return m.Trigger, err
			},
		},
	}
	var (
		mu      sync.Mutex
		handled = map[string][]string{}
	)
	for _, c := range cases {
		consume(t, b, c.consumer, func(_ context.Context, msg jetstream.Msg) error {
			key, err := c.decode(msg.Data())
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			handled[c.consumer] = append(handled[c.consumer], key)
			return nil
		}, bus.ConsumeOptions{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	}

	for _, c := range cases {
		first, firstKey := c.valid(1)
		if err := b.Publish(ctx, c.subject, first); err != nil {
			t.Fatal(err)
		}
		for _, p := range poisons(c.schema) {
			if _, err := js.Publish(ctx, c.subject, p.data); err != nil {
				t.Fatalf("%s: publishing %s: %v", c.consumer, p.name, err)
			}
		}
		last, lastKey := c.valid(2)
		if err := b.Publish(ctx, c.subject, last); err != nil {
			t.Fatal(err)
		}
		waitFor(t, c.consumer+" handling both valid messages", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(handled[c.consumer]) >= 2
		})
		// Every poison message must be dead-lettered and the consumer drained.
		waitFor(t, c.consumer+" draining", func() bool {
			info, err := js.Consumer(ctx, bus.StreamEvents, c.consumer)
			if err != nil {
				return false
			}
			ci := info.CachedInfo()
			return ci.NumPending == 0 && ci.NumAckPending == 0
		})
		mu.Lock()
		got := slices.Clone(handled[c.consumer])
		mu.Unlock()
		if want := []string{firstKey, lastKey}; !slices.Equal(got, want) {
			t.Errorf("%s handled %v, want %v", c.consumer, got, want)
		}
	}
	// Let any stray redelivery show itself before the final count.
	time.Sleep(200 * time.Millisecond)

	dead, err := js.Stream(ctx, bus.StreamDead)
	if err != nil {
		t.Fatal(err)
	}
	info, err := dead.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(len(cases) * len(poisons(""))); info.State.Msgs != want {
		t.Errorf("dead-letter stream holds %d messages, want %d", info.State.Msgs, want)
	}
	objects, err := js.ObjectStore(ctx, bus.ObjectStoreSBOMs)
	if err != nil {
		t.Fatal(err)
	}
	seq := uint64(1)
	for _, c := range cases {
		for _, p := range poisons(c.schema) {
			raw, err := dead.GetMsg(ctx, seq)
			seq++
			if err != nil {
				t.Fatalf("%s %s: reading dead letter: %v", c.consumer, p.name, err)
			}
			if raw.Subject != event.SubjectDeadPrefix+c.consumer {
				t.Errorf("%s %s: dead letter on %s", c.consumer, p.name, raw.Subject)
			}
			var dl event.DeadLetter
			if err := json.Unmarshal(raw.Data, &dl); err != nil {
				t.Fatalf("%s %s: %v", c.consumer, p.name, err)
			}
			if dl.Consumer != c.consumer || dl.Subject != c.subject || !strings.Contains(dl.Reason, p.reason) {
				t.Errorf("%s %s: dead letter consumer %q subject %q reason %q; want reason containing %q",
					c.consumer, p.name, dl.Consumer, dl.Subject, dl.Reason, p.reason)
			}
			var payload []byte
			if p.kept {
				if len(dl.Data)+len(dl.Raw)+len(dl.RawBytes) != 0 || !strings.Contains(dl.Reason, bus.DeadLetterPrefix+dl.ID) {
					t.Errorf("%s %s: a huge payload travels in the dead letter, or the reason %q does not name where it is kept", c.consumer, p.name, dl.Reason)
				}
				payload, err = objects.GetBytes(ctx, bus.DeadLetterPrefix+dl.ID)
				if err != nil {
					t.Fatalf("%s %s: reading the kept payload: %v", c.consumer, p.name, err)
				}
			} else {
				payload = []byte(dl.Raw)
				if dl.Data != nil {
					payload = dl.Data
				}
			}
			if !bytes.Equal(payload, p.data) {
				t.Errorf("%s %s: dead-lettered payload of %d bytes differs from the %d published", c.consumer, p.name, len(payload), len(p.data))
			}
		}
	}
}
