// Package event is the bus contract: the subjects the services talk on and the versioned JSON
// messages they exchange. Every message carries a schema, an ID derived from its content (used
// as the JetStream Nats-Msg-Id, so a re-published message is de-duplicated) and a time.
package event

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// Subjects.
const (
	SubjectDeployObserved    = "aspm.deploy.observed"
	SubjectScanRequested     = "aspm.scan.requested"
	SubjectEvidenceCollected = "aspm.evidence.collected"
	SubjectScoreComputed     = "aspm.score.computed"
	SubjectGapOpened         = "aspm.gap.opened"
	SubjectGapClosed         = "aspm.gap.closed"
	// SubjectDeadPrefix is followed by the consumer's name: aspm.dead.<consumer>.
	SubjectDeadPrefix = "aspm.dead."
)

// Schemas, one per message type and version.
const (
	SchemaDeployObserved    = "aspm.deploy.observed/v1"
	SchemaScanRequested     = "aspm.scan.requested/v1"
	SchemaEvidenceCollected = "aspm.evidence.collected/v1"
	SchemaScoreComputed     = "aspm.score.computed/v1"
	SchemaGapOpened         = "aspm.gap.opened/v1"
	SchemaGapClosed         = "aspm.gap.closed/v1"
	SchemaDeadLetter        = "aspm.dead/v1"
)

// Errors returned by Decode; both mean the message can never be processed (a poison message).
var (
	ErrMalformed     = errors.New("malformed message")
	ErrUnknownSchema = errors.New("unknown schema")
)

// Header is the part every message shares.
type Header struct {
	Schema string    `json:"schema"`
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
}

// MsgID returns the ID to publish the message under (the JetStream Nats-Msg-Id).
func (h Header) MsgID() string { return h.ID }

// DeployObserved says an artifact was seen running somewhere.
type DeployObserved struct {
	Header
	Deployment evidence.Deployment `json:"deployment"`
}

// ScanRequested asks ingest to collect evidence for an artifact again.
type ScanRequested struct {
	Header
	Image evidence.ImageRef `json:"image"`
}

// EvidenceCollected carries the complete evidence set for one artifact. Trigger is the ID of
// the message that caused the collection, so each trigger yields one distinct message.
type EvidenceCollected struct {
	Header
	Trigger  string                    `json:"trigger"`
	Artifact evidence.ArtifactEvidence `json:"artifact"`
	// ArtifactRef, when set, names the object-store document holding the full evidence set,
	// which was too large for a message; Artifact then carries only the image and time.
	ArtifactRef string `json:"artifact_ref,omitempty"`
}

// ScoreComputed announces a score.
type ScoreComputed struct {
	Header
	Score evidence.Score `json:"score"`
}

// GapChanged announces that a gap opened or closed for an artifact in an environment.
type GapChanged struct {
	Header
	Image       evidence.ImageRef `json:"image"`
	Environment string            `json:"environment"`
	Org         string            `json:"org"`
	Team        string            `json:"team,omitempty"`
	Gap         evidence.Gap      `json:"gap"`
	// Fingerprint identifies the gap across evaluations: artifact, environment and code.
	Fingerprint string `json:"fingerprint"`
}

// DeadLetter records a message that could not be processed, and why.
type DeadLetter struct {
	Header
	Consumer string          `json:"consumer"`
	Subject  string          `json:"subject"`
	Reason   string          `json:"reason"`
	Data     json.RawMessage `json:"data,omitempty"`
	// Raw holds the original bytes when they were not valid JSON but were UTF-8 text.
	Raw string `json:"raw,omitempty"`
	// RawBytes holds the original bytes (base64 in JSON) when they were not UTF-8, which a JSON
	// string cannot carry unchanged.
	RawBytes []byte `json:"raw_bytes,omitempty"`
}

// contentID hashes the schema and the parts that identify a message.
func contentID(schema string, parts ...any) string {
	h := sha256.New()
	h.Write([]byte(schema))
	for _, p := range parts {
		b, err := json.Marshal(p)
		if err != nil {
			// Every part is a plain domain value; marshalling cannot fail.
			panic(fmt.Sprintf("event: marshalling id part: %v", err))
		}
		h.Write([]byte{0})
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:40]
}

// NewDeployObserved returns the message for d. Observing the same deployment at the same time
// twice yields the same ID.
func NewDeployObserved(d evidence.Deployment) DeployObserved {
	d.ObservedAt = d.ObservedAt.UTC()
	return DeployObserved{
		Header:     Header{Schema: SchemaDeployObserved, ID: contentID(SchemaDeployObserved, d), Time: d.ObservedAt},
		Deployment: d,
	}
}

// NewScanRequested returns a rescan request for img made at t.
func NewScanRequested(img evidence.ImageRef, t time.Time) ScanRequested {
	t = t.UTC()
	return ScanRequested{
		Header: Header{Schema: SchemaScanRequested, ID: contentID(SchemaScanRequested, img, t), Time: t},
		Image:  img,
	}
}

// NewEvidenceCollected returns the message for a collected evidence set, caused by the message
// with ID trigger. Its ID depends on the trigger and the evidence, not on the collection time,
// so a retried collection that found the same evidence is de-duplicated.
func NewEvidenceCollected(trigger string, a evidence.ArtifactEvidence) EvidenceCollected {
	a.CollectedAt = a.CollectedAt.UTC()
	return EvidenceCollected{
		Header:   Header{Schema: SchemaEvidenceCollected, ID: contentID(SchemaEvidenceCollected, trigger, a.Image, a.Evidence, a.Errors), Time: a.CollectedAt},
		Trigger:  trigger,
		Artifact: a,
	}
}

// NewScoreComputed returns the message announcing s.
func NewScoreComputed(s evidence.Score) ScoreComputed {
	return ScoreComputed{
		Header: Header{Schema: SchemaScoreComputed, ID: contentID(SchemaScoreComputed, s.EvaluationID, s.Environment), Time: s.EvaluatedAt.UTC()},
		Score:  s,
	}
}

// GapFingerprint identifies a gap code for an artifact in an environment: it is the same for
// every evaluation that finds the gap, so tickets can follow it.
func GapFingerprint(d evidence.Digest, env, code string) string {
	return contentID("gap", d, env, code)[:24]
}

// NewGapChanged returns a gap.opened (opened true) or gap.closed message from score s.
func NewGapChanged(opened bool, s evidence.Score, g evidence.Gap) GapChanged {
	schema := SchemaGapClosed
	if opened {
		schema = SchemaGapOpened
	}
	fp := GapFingerprint(s.Image.Digest, s.Environment, g.Code)
	return GapChanged{
		Header:      Header{Schema: schema, ID: contentID(schema, fp, s.EvaluationID), Time: s.EvaluatedAt.UTC()},
		Image:       s.Image,
		Environment: s.Environment,
		Org:         s.Org,
		Team:        s.Team,
		Gap:         g,
		Fingerprint: fp,
	}
}

// NewDeadLetter wraps the undeliverable data received on subject by consumer, keeping the
// bytes unchanged in Data, Raw or RawBytes.
func NewDeadLetter(consumer, subject string, data []byte, reason error, t time.Time) DeadLetter {
	if reason == nil {
		reason = errors.New("no reason given")
	}
	dl := DeadLetter{
		// The payload is identified by its hash: marshalled as a string, payloads that are not
		// UTF-8 would all collide.
		Header:   Header{Schema: SchemaDeadLetter, ID: contentID(SchemaDeadLetter, consumer, subject, sha256.Sum256(data)), Time: t.UTC()},
		Consumer: consumer,
		Subject:  subject,
		Reason:   reason.Error(),
	}
	switch {
	case json.Valid(data):
		dl.Data = json.RawMessage(data)
	case utf8.Valid(data):
		dl.Raw = string(data)
	default:
		dl.RawBytes = data
	}
	return dl
}

// Validator is implemented by messages whose body can be checked after decoding.
type Validator interface {
	Validate() error
}

// Validate checks the deployment.
func (m DeployObserved) Validate() error { return m.Deployment.Validate() }

// Validate checks the image.
func (m ScanRequested) Validate() error { return m.Image.Validate() }

// Validate checks the evidence set.
func (m EvidenceCollected) Validate() error { return m.Artifact.Validate() }

// Decode parses data into v, which must be a pointer to a message type, and checks that the
// schema is want and, when v is a Validator, that the body is valid. Undecodable JSON or an
// invalid body yield an error wrapping ErrMalformed; a different schema (another type, or a
// version this code does not know) one wrapping ErrUnknownSchema.
func Decode(data []byte, want string, v any) error {
	var h Header
	if err := json.Unmarshal(data, &h); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if h.Schema != want {
		if name, _, _ := strings.Cut(h.Schema, "/"); name == strings.SplitN(want, "/", 2)[0] {
			return fmt.Errorf("%w: %q (this version reads %q)", ErrUnknownSchema, h.Schema, want)
		}
		return fmt.Errorf("%w: %q, want %q", ErrUnknownSchema, h.Schema, want)
	}
	if h.ID == "" {
		return fmt.Errorf("%w: no id", ErrMalformed)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if val, ok := v.(Validator); ok {
		if err := val.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
	}
	return nil
}
