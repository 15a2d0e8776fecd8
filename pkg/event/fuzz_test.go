package event_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/event"
)

// FuzzDecode decodes arbitrary bytes as every message type. Decode must not panic, must fail
// only with ErrMalformed or ErrUnknownSchema, and what it accepts must survive a round trip
// through JSON unchanged. The seed corpus is in testdata/fuzz/FuzzDecode, plus one valid
// message of each type added here.
func FuzzDecode(f *testing.F) {
	for _, m := range []any{
		event.NewDeployObserved(deployment()),
		event.NewScanRequested(imageA, t0),
		event.NewEvidenceCollected("trigger-1", artifact()),
		event.NewScoreComputed(score()),
		event.NewGapChanged(true, score(), score().Gaps[0]),
		event.NewDeadLetter("scorer", event.SubjectEvidenceCollected, []byte("\xff"), errors.New("boom"), t0),
	} {
		b, err := json.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	schemas := []struct {
		schema string
		sample any
	}{
		{event.SchemaDeployObserved, event.DeployObserved{}},
		{event.SchemaScanRequested, event.ScanRequested{}},
		{event.SchemaEvidenceCollected, event.EvidenceCollected{}},
		{event.SchemaScoreComputed, event.ScoreComputed{}},
		{event.SchemaGapOpened, event.GapChanged{}},
		{event.SchemaGapClosed, event.GapChanged{}},
		{event.SchemaDeadLetter, event.DeadLetter{}},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range schemas {
			got, err := decodeInto(data, s.schema, s.sample)
			if err != nil {
				if !errors.Is(err, event.ErrMalformed) && !errors.Is(err, event.ErrUnknownSchema) {
					t.Fatalf("Decode as %s: error %v wraps neither ErrMalformed nor ErrUnknownSchema", s.schema, err)
				}
				continue
			}
			if h := header(t, got); h.Schema != s.schema || h.ID == "" {
				t.Fatalf("Decode as %s accepted header %+v", s.schema, h)
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatalf("Decode as %s accepted a message that does not marshal: %v", s.schema, err)
			}
			again, err := decodeInto(b, s.schema, s.sample)
			if err != nil {
				t.Fatalf("Decode as %s accepted %q but not its re-encoding %q: %v", s.schema, data, b, err)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Fatalf("Decode as %s: round trip changed the message (-first +second):\n%s", s.schema, diff)
			}
		}
	})
}
