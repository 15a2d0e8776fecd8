package event_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
)

var (
	digestA = evidence.Digest("sha256:" + strings.Repeat("a1", 32))
	digestB = evidence.Digest("sha256:" + strings.Repeat("b2", 32))
	imageA  = evidence.ImageRef{Repository: "ghcr.io/acme/api", Digest: digestA}
	imageB  = evidence.ImageRef{Repository: "ghcr.io/acme/api", Digest: digestB}
	// cet is a non-UTC zone: constructors must normalise times to UTC.
	cet = time.FixedZone("CET", 3600)
	t0  = time.Date(2025, 3, 1, 13, 0, 0, 0, cet)
)

func deployment() evidence.Deployment {
	return evidence.Deployment{
		Image:       imageA,
		Environment: "prod",
		Cluster:     "eu-1",
		Namespace:   "shop",
		Workload:    "deployment/api",
		Org:         "acme",
		Team:        "shop",
		ObservedAt:  t0,
	}
}

func artifact() evidence.ArtifactEvidence {
	return evidence.ArtifactEvidence{
		Image:       imageA,
		CollectedAt: t0,
		Evidence: []evidence.Evidence{{
			ID:           digestB,
			Kind:         evidence.KindProvenance,
			Source:       "oci-referrers",
			Subjects:     []evidence.Digest{digestA},
			SubjectMatch: true,
			Signed:       true,
			Verification: evidence.Verification{
				Verified:    true,
				Signer:      &evidence.Signer{Type: evidence.SignatureKeyless, Issuer: "https://token.actions.githubusercontent.com"},
				TlogEntries: 1,
				SignedAt:    time.Date(2025, 2, 28, 9, 30, 0, 0, time.UTC),
			},
			Provenance: &evidence.Provenance{BuilderID: "https://github.com/actions/runner/github-hosted"},
		}},
		Errors: []string{"cosign tag: not found"},
	}
}

func score() evidence.Score {
	return evidence.Score{
		Image:        imageA,
		Environment:  "prod",
		Org:          "acme",
		Team:         "shop",
		Level:        1,
		Risk:         60,
		Gaps:         []evidence.Gap{{Code: "provenance.unverified", Severity: "high", Message: "no verified provenance", Rule: "slsa"}},
		EvaluationID: "0123456789abcdef",
		EvaluatedAt:  t0,
	}
}

// header returns the header of any message type.
func header(t *testing.T, m any) event.Header {
	t.Helper()
	switch m := m.(type) {
	case event.DeployObserved:
		return m.Header
	case event.ScanRequested:
		return m.Header
	case event.EvidenceCollected:
		return m.Header
	case event.ScoreComputed:
		return m.Header
	case event.GapChanged:
		return m.Header
	case event.DeadLetter:
		return m.Header
	}
	t.Fatalf("header: unknown message type %T", m)
	return event.Header{}
}

func TestConstructorHeaders(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name   string
		msg    any
		schema string
		time   time.Time
	}{
		{"DeployObserved", event.NewDeployObserved(deployment()), event.SchemaDeployObserved, t0},
		{"ScanRequested", event.NewScanRequested(imageA, t0), event.SchemaScanRequested, t0},
		{"EvidenceCollected", event.NewEvidenceCollected("trigger-1", artifact()), event.SchemaEvidenceCollected, t0},
		{"ScoreComputed", event.NewScoreComputed(score()), event.SchemaScoreComputed, t0},
		{"GapOpened", event.NewGapChanged(true, score(), score().Gaps[0]), event.SchemaGapOpened, t0},
		{"GapClosed", event.NewGapChanged(false, score(), score().Gaps[0]), event.SchemaGapClosed, t0},
		{"DeadLetter", event.NewDeadLetter("scorer", event.SubjectEvidenceCollected, []byte(`{}`), errBoom, t0), event.SchemaDeadLetter, t0},
	}
	ids := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := header(t, tt.msg)
			if h.Schema != tt.schema {
				t.Errorf("Schema = %q, want %q", h.Schema, tt.schema)
			}
			if h.Time.Location() != time.UTC {
				t.Errorf("Time = %s, want it in UTC", h.Time)
			}
			if !h.Time.Equal(tt.time) {
				t.Errorf("Time = %s, want %s", h.Time, tt.time)
			}
			if len(h.ID) != 40 || strings.Trim(h.ID, "0123456789abcdef") != "" {
				t.Errorf("ID = %q, want 40 lowercase hex characters", h.ID)
			}
			if h.MsgID() != h.ID {
				t.Errorf("MsgID() = %q, want the ID %q", h.MsgID(), h.ID)
			}
			if prev, dup := ids[h.ID]; dup {
				t.Errorf("ID %s is also the ID of %s", h.ID, prev)
			}
			ids[h.ID] = tt.name
		})
	}
}

func TestBodyTimesInUTC(t *testing.T) {
	d := event.NewDeployObserved(deployment())
	if loc := d.Deployment.ObservedAt.Location(); loc != time.UTC {
		t.Errorf("DeployObserved: Deployment.ObservedAt in %s, want UTC", loc)
	}
	e := event.NewEvidenceCollected("trigger-1", artifact())
	if loc := e.Artifact.CollectedAt.Location(); loc != time.UTC {
		t.Errorf("EvidenceCollected: Artifact.CollectedAt in %s, want UTC", loc)
	}
}

// idCase is one input to a constructor, named by how it differs from the base input.
type idCase struct {
	name string
	id   func() string
}

// checkIDs checks that base and same yield base's ID and that every input in differ yields an
// ID of its own.
func checkIDs(t *testing.T, base func() string, same, differ []idCase) {
	t.Helper()
	want := base()
	if again := base(); again != want {
		t.Fatalf("the same input gave IDs %q and %q", want, again)
	}
	for _, c := range same {
		if got := c.id(); got != want {
			t.Errorf("%s: ID = %q, want %q as for the base input", c.name, got, want)
		}
	}
	seen := map[string]string{want: "the base input"}
	for _, c := range differ {
		got := c.id()
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: ID %q is the same as for %s", c.name, got, prev)
		}
		seen[got] = c.name
	}
}

func TestDeployObservedID(t *testing.T) {
	id := func(modify func(*evidence.Deployment)) func() string {
		return func() string {
			d := deployment()
			modify(&d)
			return event.NewDeployObserved(d).ID
		}
	}
	checkIDs(t, id(func(*evidence.Deployment) {}),
		[]idCase{
			{"the same instant in another zone", id(func(d *evidence.Deployment) { d.ObservedAt = d.ObservedAt.UTC() })},
		},
		[]idCase{
			{"another observation time", id(func(d *evidence.Deployment) { d.ObservedAt = d.ObservedAt.Add(time.Second) })},
			{"another environment", id(func(d *evidence.Deployment) { d.Environment = "staging" })},
			{"another org", id(func(d *evidence.Deployment) { d.Org = "other" })},
			{"another team", id(func(d *evidence.Deployment) { d.Team = "platform" })},
			{"another cluster", id(func(d *evidence.Deployment) { d.Cluster = "us-1" })},
			{"another namespace", id(func(d *evidence.Deployment) { d.Namespace = "web" })},
			{"another workload", id(func(d *evidence.Deployment) { d.Workload = "deployment/web" })},
			{"another digest", id(func(d *evidence.Deployment) { d.Image = imageB })},
		})
}

func TestScanRequestedID(t *testing.T) {
	checkIDs(t, func() string { return event.NewScanRequested(imageA, t0).ID },
		[]idCase{
			{"the same instant in UTC", func() string { return event.NewScanRequested(imageA, t0.UTC()).ID }},
		},
		[]idCase{
			{"another image", func() string { return event.NewScanRequested(imageB, t0).ID }},
			{"another repository", func() string {
				return event.NewScanRequested(evidence.ImageRef{Repository: "ghcr.io/acme/mirror", Digest: digestA}, t0).ID
			}},
			{"another time", func() string { return event.NewScanRequested(imageA, t0.Add(time.Millisecond)).ID }},
		})
}

func TestEvidenceCollectedID(t *testing.T) {
	id := func(trigger string, modify func(*evidence.ArtifactEvidence)) func() string {
		return func() string {
			a := artifact()
			modify(&a)
			return event.NewEvidenceCollected(trigger, a).ID
		}
	}
	checkIDs(t, id("trigger-1", func(*evidence.ArtifactEvidence) {}),
		[]idCase{
			{"another collection time", id("trigger-1", func(a *evidence.ArtifactEvidence) { a.CollectedAt = a.CollectedAt.Add(time.Hour) })},
			{"zero collection time", id("trigger-1", func(a *evidence.ArtifactEvidence) { a.CollectedAt = time.Time{} })},
		},
		[]idCase{
			{"another trigger", id("trigger-2", func(*evidence.ArtifactEvidence) {})},
			{"no trigger", id("", func(*evidence.ArtifactEvidence) {})},
			{"another image", id("trigger-1", func(a *evidence.ArtifactEvidence) { a.Image = imageB })},
			{"no evidence", id("trigger-1", func(a *evidence.ArtifactEvidence) { a.Evidence = nil })},
			{"evidence not verified", id("trigger-1", func(a *evidence.ArtifactEvidence) { a.Evidence[0].Verification.Verified = false })},
			{"evidence of another kind", id("trigger-1", func(a *evidence.ArtifactEvidence) { a.Evidence[0].Kind = evidence.KindAttestation })},
			{"no collection errors", id("trigger-1", func(a *evidence.ArtifactEvidence) { a.Errors = nil })},
			{"another collection error", id("trigger-1", func(a *evidence.ArtifactEvidence) { a.Errors = []string{"registry: 503"} })},
		})
}

func TestScoreComputedID(t *testing.T) {
	id := func(modify func(*evidence.Score)) func() string {
		return func() string {
			s := score()
			modify(&s)
			return event.NewScoreComputed(s).ID
		}
	}
	// The evaluation ID names the evaluation; re-announcing it must de-duplicate.
	checkIDs(t, id(func(*evidence.Score) {}),
		[]idCase{
			{"another evaluation time", id(func(s *evidence.Score) { s.EvaluatedAt = s.EvaluatedAt.Add(time.Hour) })},
		},
		[]idCase{
			{"another evaluation", id(func(s *evidence.Score) { s.EvaluationID = "fedcba9876543210" })},
			{"another environment", id(func(s *evidence.Score) { s.Environment = "staging" })},
		})
}

func TestGapChangedID(t *testing.T) {
	id := func(opened bool, modify func(*evidence.Score, *evidence.Gap)) func() string {
		return func() string {
			s := score()
			g := s.Gaps[0]
			modify(&s, &g)
			return event.NewGapChanged(opened, s, g).ID
		}
	}
	none := func(*evidence.Score, *evidence.Gap) {}
	checkIDs(t, id(true, none),
		[]idCase{
			{"another message", id(true, func(_ *evidence.Score, g *evidence.Gap) { g.Message = "reworded" })},
			{"another org: the fingerprint names artifact, environment and code", id(true, func(s *evidence.Score, _ *evidence.Gap) { s.Org = "other" })},
		},
		[]idCase{
			{"closed instead of opened", id(false, none)},
			{"another gap code", id(true, func(_ *evidence.Score, g *evidence.Gap) { g.Code = "sbom.missing" })},
			{"another evaluation", id(true, func(s *evidence.Score, _ *evidence.Gap) { s.EvaluationID = "fedcba9876543210" })},
			{"another environment", id(true, func(s *evidence.Score, _ *evidence.Gap) { s.Environment = "staging" })},
			{"another artifact", id(true, func(s *evidence.Score, _ *evidence.Gap) { s.Image = imageB })},
		})
}

func TestNewGapChanged(t *testing.T) {
	s := score()
	g := s.Gaps[0]
	got := event.NewGapChanged(true, s, g)
	want := event.GapChanged{
		Header:      got.Header,
		Image:       s.Image,
		Environment: s.Environment,
		Org:         s.Org,
		Team:        s.Team,
		Gap:         g,
		Fingerprint: event.GapFingerprint(s.Image.Digest, s.Environment, g.Code),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewGapChanged (-want +got):\n%s", diff)
	}
	if closed := event.NewGapChanged(false, s, g); closed.Fingerprint != got.Fingerprint {
		t.Errorf("opened and closed fingerprints differ: %q, %q", got.Fingerprint, closed.Fingerprint)
	}
}

func TestGapFingerprint(t *testing.T) {
	a, b := imageA.Digest, imageB.Digest
	fp := event.GapFingerprint(a, "prod", "sbom.missing")
	if len(fp) != 24 || strings.Trim(fp, "0123456789abcdef") != "" {
		t.Fatalf("GapFingerprint = %q, want 24 lowercase hex characters", fp)
	}
	checkIDs(t, func() string { return event.GapFingerprint(a, "prod", "sbom.missing") },
		nil,
		[]idCase{
			{"another code", func() string { return event.GapFingerprint(a, "prod", "provenance.missing") }},
			{"another environment", func() string { return event.GapFingerprint(a, "staging", "sbom.missing") }},
			{"another digest", func() string { return event.GapFingerprint(b, "prod", "sbom.missing") }},
			{"text moved between environment and code", func() string { return event.GapFingerprint(a, "prods", "bom.missing") }},
		})
}

func TestNewDeadLetter(t *testing.T) {
	reason := fmt.Errorf("decoding: %w", event.ErrMalformed)
	tests := []struct {
		name string
		data []byte
		want event.DeadLetter // without the header
	}{
		{
			name: "valid JSON is kept as data",
			data: []byte(`{"schema":"aspm.deploy.observed/v1","id":""}`),
			want: event.DeadLetter{Data: json.RawMessage(`{"schema":"aspm.deploy.observed/v1","id":""}`)},
		},
		{
			name: "a JSON string is JSON",
			data: []byte(`"hello"`),
			want: event.DeadLetter{Data: json.RawMessage(`"hello"`)},
		},
		{
			name: "truncated JSON is kept raw",
			data: []byte(`{"schema":`),
			want: event.DeadLetter{Raw: `{"schema":`},
		},
		{
			name: "text is kept raw",
			data: []byte("{not json\x00 ü"),
			want: event.DeadLetter{Raw: "{not json\x00 ü"},
		},
		{
			name: "bytes that are not UTF-8 are kept as bytes",
			data: []byte{0xff, 0x00, 'x'},
			want: event.DeadLetter{RawBytes: []byte{0xff, 0x00, 'x'}},
		},
		{
			name: "JSON with a string that is not UTF-8 is kept as data",
			data: []byte("\"\xff\""),
			want: event.DeadLetter{Data: json.RawMessage("\"\xff\"")},
		},
		{
			name: "empty",
			data: nil,
			want: event.DeadLetter{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := event.NewDeadLetter("scorer", event.SubjectEvidenceCollected, tt.data, reason, t0)
			tt.want.Header = got.Header
			tt.want.Consumer = "scorer"
			tt.want.Subject = event.SubjectEvidenceCollected
			tt.want.Reason = reason.Error()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("NewDeadLetter (-want +got):\n%s", diff)
			}
			// A dead letter is itself a valid message.
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatalf("marshalling the dead letter: %v", err)
			}
			var back event.DeadLetter
			if err := event.Decode(b, event.SchemaDeadLetter, &back); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(got, back); diff != "" {
				t.Errorf("round trip (-sent +decoded):\n%s", diff)
			}
		})
	}
}

func TestDeadLetterID(t *testing.T) {
	reason := errors.New("boom")
	data := []byte(`{"a":1}`)
	checkIDs(t, func() string { return event.NewDeadLetter("scorer", "aspm.evidence.collected", data, reason, t0).ID },
		[]idCase{
			{"another reason", func() string {
				return event.NewDeadLetter("scorer", "aspm.evidence.collected", data, errors.New("other"), t0).ID
			}},
			{"another time", func() string {
				return event.NewDeadLetter("scorer", "aspm.evidence.collected", data, reason, t0.Add(time.Hour)).ID
			}},
		},
		[]idCase{
			{"another consumer", func() string { return event.NewDeadLetter("api", "aspm.evidence.collected", data, reason, t0).ID }},
			{"another subject", func() string { return event.NewDeadLetter("scorer", "aspm.score.computed", data, reason, t0).ID }},
			{"other data", func() string {
				return event.NewDeadLetter("scorer", "aspm.evidence.collected", []byte(`{"a":2}`), reason, t0).ID
			}},
			// JSON would turn both into U+FFFD; the ID must still tell them apart.
			{"binary data", func() string {
				return event.NewDeadLetter("scorer", "aspm.evidence.collected", []byte{0xff}, reason, t0).ID
			}},
			{"other binary data", func() string {
				return event.NewDeadLetter("scorer", "aspm.evidence.collected", []byte{0xfe}, reason, t0).ID
			}},
			{"text that looks like the binary data replaced", func() string {
				return event.NewDeadLetter("scorer", "aspm.evidence.collected", []byte("\uFFFD"), reason, t0).ID
			}},
		})
}

// decodeInto decodes data as a message of the same type as sample and returns it.
func decodeInto(data []byte, schema string, sample any) (any, error) {
	switch sample.(type) {
	case event.DeployObserved:
		var m event.DeployObserved
		err := event.Decode(data, schema, &m)
		return m, err
	case event.ScanRequested:
		var m event.ScanRequested
		err := event.Decode(data, schema, &m)
		return m, err
	case event.EvidenceCollected:
		var m event.EvidenceCollected
		err := event.Decode(data, schema, &m)
		return m, err
	case event.ScoreComputed:
		var m event.ScoreComputed
		err := event.Decode(data, schema, &m)
		return m, err
	case event.GapChanged:
		var m event.GapChanged
		err := event.Decode(data, schema, &m)
		return m, err
	case event.DeadLetter:
		var m event.DeadLetter
		err := event.Decode(data, schema, &m)
		return m, err
	}
	return nil, fmt.Errorf("decodeInto: unknown message type %T", sample)
}

func TestDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		msg    any
		schema string
	}{
		{"DeployObserved", event.NewDeployObserved(deployment()), event.SchemaDeployObserved},
		{"ScanRequested", event.NewScanRequested(imageA, t0), event.SchemaScanRequested},
		{"EvidenceCollected", event.NewEvidenceCollected("trigger-1", artifact()), event.SchemaEvidenceCollected},
		{"ScoreComputed", event.NewScoreComputed(score()), event.SchemaScoreComputed},
		{"GapOpened", event.NewGapChanged(true, score(), score().Gaps[0]), event.SchemaGapOpened},
		{"GapClosed", event.NewGapChanged(false, score(), score().Gaps[0]), event.SchemaGapClosed},
		{"DeadLetter", event.NewDeadLetter("scorer", "aspm.evidence.collected", []byte(`{"x":[1,2]}`), errors.New("boom"), t0), event.SchemaDeadLetter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeInto(b, tt.schema, tt.msg)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tt.msg, got); diff != "" {
				t.Errorf("round trip (-sent +decoded):\n%s", diff)
			}
		})
	}
}

// deployJSON is a valid aspm.deploy.observed/v1 message with placeholders for the schema, the
// ID and the digest.
const deployJSON = `{"schema":%q,"id":%q,"time":"2025-03-01T12:00:00Z",` +
	`"deployment":{"image":{"repository":"ghcr.io/acme/api","digest":%q},` +
	`"environment":"prod","org":"acme","observed_at":"2025-03-01T12:00:00Z"}}`

func TestDecodeErrors(t *testing.T) {
	good := string(digestA)
	tests := []struct {
		name string
		data string
		want error // nil: decodes
	}{
		{name: "valid", data: fmt.Sprintf(deployJSON, event.SchemaDeployObserved, "id-1", good)},
		{name: "not JSON", data: "not json", want: event.ErrMalformed},
		{name: "empty", data: "", want: event.ErrMalformed},
		{name: "truncated", data: fmt.Sprintf(deployJSON, event.SchemaDeployObserved, "id-1", good)[:60], want: event.ErrMalformed},
		{name: "an array", data: `[{"schema":"aspm.deploy.observed/v1"}]`, want: event.ErrMalformed},
		{name: "schema not a string", data: `{"schema":1,"id":"x"}`, want: event.ErrMalformed},
		{name: "time not a time", data: `{"schema":"aspm.deploy.observed/v1","id":"x","time":"yesterday"}`, want: event.ErrMalformed},
		{name: "another message type", data: fmt.Sprintf(deployJSON, event.SchemaScanRequested, "id-1", good), want: event.ErrUnknownSchema},
		{name: "a future version", data: fmt.Sprintf(deployJSON, "aspm.deploy.observed/v2", "id-1", good), want: event.ErrUnknownSchema},
		{name: "no version", data: fmt.Sprintf(deployJSON, "aspm.deploy.observed", "id-1", good), want: event.ErrUnknownSchema},
		{name: "no schema", data: `{"id":"x","deployment":{}}`, want: event.ErrUnknownSchema},
		{name: "no id", data: fmt.Sprintf(deployJSON, event.SchemaDeployObserved, "", good), want: event.ErrMalformed},
		{name: "bad digest", data: fmt.Sprintf(deployJSON, event.SchemaDeployObserved, "id-1", "sha256:1234"), want: event.ErrMalformed},
		{name: "uppercase digest", data: fmt.Sprintf(deployJSON, event.SchemaDeployObserved, "id-1", strings.ToUpper(good)), want: event.ErrMalformed},
		{name: "no environment", data: strings.Replace(fmt.Sprintf(deployJSON, event.SchemaDeployObserved, "id-1", good), `"environment":"prod",`, "", 1), want: event.ErrMalformed},
		{name: "deployment of the wrong type", data: `{"schema":"aspm.deploy.observed/v1","id":"x","deployment":[]}`, want: event.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m event.DeployObserved
			err := event.Decode([]byte(tt.data), event.SchemaDeployObserved, &m)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if m.ID != "id-1" || m.Deployment.Image.Digest != digestA {
					t.Errorf("Decode gave %+v", m)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode error = %v, want one wrapping %v", err, tt.want)
			}
			other := event.ErrMalformed
			if tt.want == event.ErrMalformed {
				other = event.ErrUnknownSchema
			}
			if errors.Is(err, other) {
				t.Errorf("Decode error %v wraps both %v and %v", err, tt.want, other)
			}
		})
	}
}

func TestDecodeInvalidBodyWrapsCause(t *testing.T) {
	data := fmt.Sprintf(deployJSON, event.SchemaDeployObserved, "id-1", "sha256:1234")
	var m event.DeployObserved
	err := event.Decode([]byte(data), event.SchemaDeployObserved, &m)
	if !errors.Is(err, event.ErrMalformed) || !errors.Is(err, evidence.ErrInvalid) {
		t.Errorf("Decode error = %v, want one wrapping ErrMalformed and evidence.ErrInvalid", err)
	}
}

func TestDecodeValidatesEachBody(t *testing.T) {
	bad := evidence.ImageRef{Repository: "ghcr.io/acme/api", Digest: "sha256:00"}
	scan := event.NewScanRequested(bad, t0)
	a := artifact()
	a.Evidence[0].Source = ""
	collected := event.NewEvidenceCollected("trigger-1", a)
	tests := []struct {
		name   string
		msg    any
		schema string
	}{
		{"ScanRequested with an invalid image", scan, event.SchemaScanRequested},
		{"EvidenceCollected with invalid evidence", collected, event.SchemaEvidenceCollected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := decodeInto(b, tt.schema, tt.msg); !errors.Is(err, event.ErrMalformed) {
				t.Errorf("Decode error = %v, want one wrapping ErrMalformed", err)
			}
		})
	}
}

func ExampleDecode() {
	img := evidence.ImageRef{Repository: "ghcr.io/acme/api", Digest: "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
	sent := event.NewScanRequested(img, time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	data, err := json.Marshal(sent)
	if err != nil {
		fmt.Println(err)
		return
	}

	var got event.ScanRequested
	if err := event.Decode(data, event.SchemaScanRequested, &got); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(got.Image.Repository, got.ID == sent.ID)

	// A message of another type is a poison message for this consumer.
	err = event.Decode(data, event.SchemaDeployObserved, &event.DeployObserved{})
	fmt.Println(errors.Is(err, event.ErrUnknownSchema))
	// Output:
	// ghcr.io/acme/api true
	// true
}
