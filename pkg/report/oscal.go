package report

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// OSCALVersion is the OSCAL version of the documents this package writes.
const OSCALVersion = "1.1.2"

// OSCALNamespace is the namespace of the props this package adds to OSCAL documents.
const OSCALNamespace = "https://aspm.dev/ns/oscal"

// uuidNamespace is the UUIDv5 namespace of every UUID this package makes.
var uuidNamespace = [16]byte{0x6b, 0x0e, 0x51, 0x3c, 0x2a, 0x47, 0x4f, 0x0d, 0x9c, 0x52, 0x5e, 0x3b, 0x0a, 0x8f, 0x41, 0x77}

// uuidV5 returns the name-based (SHA-1) UUID of name in the package's namespace (RFC 9562).
func uuidV5(name string) string {
	h := sha1.New()
	h.Write(uuidNamespace[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	x := hex.EncodeToString(u[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// contentKey identifies r's content: the hash of its JSON form, so that document UUIDs change
// when, and only when, what they say changes.
func contentKey(r *Report) string {
	b, err := json.Marshal(r)
	if err != nil { // a Report always marshals
		panic(fmt.Sprintf("report: marshalling a report: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

type oscalProp struct {
	Name  string `json:"name"`
	NS    string `json:"ns,omitempty"`
	Value string `json:"value"`
	Class string `json:"class,omitempty"`
}

type oscalLink struct {
	Href string `json:"href"`
	Rel  string `json:"rel,omitempty"`
	Text string `json:"text,omitempty"`
}

type oscalMetadata struct {
	Title        string      `json:"title"`
	Published    string      `json:"published,omitempty"`
	LastModified string      `json:"last-modified"`
	Version      string      `json:"version"`
	OSCALVersion string      `json:"oscal-version"`
	Props        []oscalProp `json:"props,omitempty"`
	Links        []oscalLink `json:"links,omitempty"`
	Remarks      string      `json:"remarks,omitempty"`
}

type oscalControlID struct {
	ControlID string `json:"control-id"`
}

type oscalControlSelection struct {
	Description     string           `json:"description,omitempty"`
	IncludeControls []oscalControlID `json:"include-controls"`
}

type oscalReviewedControls struct {
	Description       string                  `json:"description,omitempty"`
	ControlSelections []oscalControlSelection `json:"control-selections"`
}

type oscalRelevantEvidence struct {
	Description string      `json:"description"`
	Props       []oscalProp `json:"props,omitempty"`
}

type oscalObservation struct {
	UUID             string                  `json:"uuid"`
	Title            string                  `json:"title,omitempty"`
	Description      string                  `json:"description"`
	Props            []oscalProp             `json:"props,omitempty"`
	Methods          []string                `json:"methods"`
	Types            []string                `json:"types,omitempty"`
	RelevantEvidence []oscalRelevantEvidence `json:"relevant-evidence,omitempty"`
	Collected        string                  `json:"collected"`
}

type oscalRelatedObservation struct {
	ObservationUUID string `json:"observation-uuid"`
}

type oscalRelatedRisk struct {
	RiskUUID string `json:"risk-uuid"`
}

type oscalRisk struct {
	UUID                string                    `json:"uuid"`
	Title               string                    `json:"title"`
	Description         string                    `json:"description"`
	Statement           string                    `json:"statement"`
	Props               []oscalProp               `json:"props,omitempty"`
	Status              string                    `json:"status"`
	Deadline            string                    `json:"deadline,omitempty"`
	RelatedObservations []oscalRelatedObservation `json:"related-observations,omitempty"`
	Remarks             string                    `json:"remarks,omitempty"`
}

type oscalStatus struct {
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

type oscalTarget struct {
	Type     string      `json:"type"`
	TargetID string      `json:"target-id"`
	Title    string      `json:"title,omitempty"`
	Props    []oscalProp `json:"props,omitempty"`
	Status   oscalStatus `json:"status"`
}

type oscalFinding struct {
	UUID                string                    `json:"uuid"`
	Title               string                    `json:"title"`
	Description         string                    `json:"description"`
	Props               []oscalProp               `json:"props,omitempty"`
	Target              oscalTarget               `json:"target"`
	RelatedObservations []oscalRelatedObservation `json:"related-observations,omitempty"`
	RelatedRisks        []oscalRelatedRisk        `json:"related-risks,omitempty"`
}

type oscalResult struct {
	UUID             string                `json:"uuid"`
	Title            string                `json:"title"`
	Description      string                `json:"description"`
	Start            string                `json:"start"`
	End              string                `json:"end,omitempty"`
	Props            []oscalProp           `json:"props,omitempty"`
	ReviewedControls oscalReviewedControls `json:"reviewed-controls"`
	Observations     []oscalObservation    `json:"observations,omitempty"`
	Risks            []oscalRisk           `json:"risks,omitempty"`
	Findings         []oscalFinding        `json:"findings,omitempty"`
}

type oscalImport struct {
	Href    string `json:"href"`
	Remarks string `json:"remarks,omitempty"`
}

type oscalAssessmentResults struct {
	UUID     string        `json:"uuid"`
	Metadata oscalMetadata `json:"metadata"`
	ImportAP oscalImport   `json:"import-ap"`
	Results  []oscalResult `json:"results"`
}

type oscalAssessmentSubject struct {
	Type        string   `json:"type"`
	Description string   `json:"description,omitempty"`
	IncludeAll  struct{} `json:"include-all"`
}

type oscalAssessmentPlan struct {
	UUID               string                   `json:"uuid"`
	Metadata           oscalMetadata            `json:"metadata"`
	ImportSSP          oscalImport              `json:"import-ssp"`
	ReviewedControls   oscalReviewedControls    `json:"reviewed-controls"`
	AssessmentSubjects []oscalAssessmentSubject `json:"assessment-subjects,omitempty"`
}

type oscalPOAMItem struct {
	UUID                string                    `json:"uuid"`
	Title               string                    `json:"title"`
	Description         string                    `json:"description"`
	Props               []oscalProp               `json:"props,omitempty"`
	RelatedObservations []oscalRelatedObservation `json:"related-observations,omitempty"`
	RelatedRisks        []oscalRelatedRisk        `json:"related-risks,omitempty"`
	Remarks             string                    `json:"remarks,omitempty"`
}

type oscalPOAM struct {
	UUID         string             `json:"uuid"`
	Metadata     oscalMetadata      `json:"metadata"`
	ImportSSP    *oscalImport       `json:"import-ssp,omitempty"`
	Observations []oscalObservation `json:"observations,omitempty"`
	Risks        []oscalRisk        `json:"risks,omitempty"`
	POAMItems    []oscalPOAMItem    `json:"poam-items"`
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func frameworkName(f string) string {
	if f == FedRAMP {
		return "NIST SP 800-53 Rev. 5 (FedRAMP Rev. 5 baselines)"
	}
	return "NIST SP 800-218 SSDF v1.1"
}

func scopeText(r *Report) string {
	s := "org " + r.Org
	if r.Team != "" {
		s += ", team " + r.Team
	}
	if r.Environment != "" {
		s += ", environment " + r.Environment
	}
	return s
}

func metadata(r *Report, what string) oscalMetadata {
	return oscalMetadata{
		Title:        fmt.Sprintf("%s: %s of %s, %s to %s", frameworkName(r.Framework), what, scopeText(r), stamp(r.From), stamp(r.To)),
		LastModified: stamp(r.To),
		Version:      contentKey(r)[:12],
		OSCALVersion: OSCALVersion,
		Props: []oscalProp{
			{Name: "framework", NS: OSCALNamespace, Value: r.Framework},
			{Name: "org", NS: OSCALNamespace, Value: r.Org},
		},
		Remarks: "Generated by aspm from the deployed artifacts' supply-chain evidence; version is a hash of the report's content.",
	}
}

func reviewedControls(r *Report) oscalReviewedControls {
	sel := oscalControlSelection{Description: frameworkName(r.Framework), IncludeControls: []oscalControlID{}}
	for _, q := range r.Requirements {
		sel.IncludeControls = append(sel.IncludeControls, oscalControlID{ControlID: controlIDOf(r.Framework, q.ID)})
	}
	return oscalReviewedControls{ControlSelections: []oscalControlSelection{sel}}
}

// docKey is the prefix of every UUID name of r's documents.
func docKey(r *Report) string {
	return strings.Join([]string{r.Framework, r.Org, r.Team, r.Environment, stamp(r.From), stamp(r.To)}, "|")
}

func observations(r *Report) ([]oscalObservation, map[string]string) {
	key := docKey(r)
	byDigest := map[string]string{}
	var out []oscalObservation
	for _, a := range r.Artifacts {
		id := uuidV5(key + "|observation|" + string(a.Digest))
		byDigest[string(a.Digest)] = id
		var kinds []string
		var ev []oscalRelevantEvidence
		for _, c := range a.Evidence {
			kinds = append(kinds, fmt.Sprintf("%d %s (%d verified)", c.Documents, c.Kind, c.Verified))
			ev = append(ev, oscalRelevantEvidence{
				Description: fmt.Sprintf("%d %s document(s) attached to %s@%s, %d verified", c.Documents, c.Kind, a.Repository, a.Digest, c.Verified),
				Props:       []oscalProp{{Name: "evidence-kind", NS: OSCALNamespace, Value: string(c.Kind)}},
			})
		}
		if len(kinds) == 0 {
			kinds = []string{"no evidence"}
		}
		gaps := "no gaps"
		if len(a.Gaps) > 0 {
			gaps = "gaps " + strings.Join(a.Gaps, ", ")
			if len(a.Accepted) > 0 {
				gaps += " (accepted: " + strings.Join(a.Accepted, ", ") + ")"
			}
		}
		out = append(out, oscalObservation{
			UUID:  id,
			Title: a.Repository,
			Description: fmt.Sprintf("%s@%s runs in %s; evidence: %s; verified provenance: %t; SBOM components: %d; %s.",
				a.Repository, a.Digest, strings.Join(a.Environments, ", "), strings.Join(kinds, ", "), a.VerifiedProvenance,
				a.SBOMComponents, gaps),
			Props: []oscalProp{
				{Name: "artifact-digest", NS: OSCALNamespace, Value: string(a.Digest)},
				{Name: "artifact-repository", NS: OSCALNamespace, Value: a.Repository},
			},
			Methods:          []string{"TEST"},
			Types:            []string{"finding"},
			RelevantEvidence: ev,
			Collected:        stamp(a.CollectedAt),
		})
	}
	return out, byDigest
}

// risks returns one risk per accepted weakness (status deviation-approved) and per open one
// (status open), and the UUIDs of the risks bearing on each requirement.
func risks(r *Report, obs map[string]string) ([]oscalRisk, map[string][]string) {
	key := docKey(r)
	byReq := map[string][]string{}
	var out []oscalRisk
	add := func(w Weakness, id, status, statement, deadline string) {
		rk := oscalRisk{UUID: id, Title: w.Code + ": " + w.Title, Status: status, Statement: statement, Deadline: deadline,
			Description: fmt.Sprintf("%s (severity %s) on %d artifact(s). Remediation: %s", w.Title, w.Severity, len(w.Artifacts), w.Remediation),
			Props: []oscalProp{
				{Name: "gap-code", NS: OSCALNamespace, Value: w.Code},
				{Name: "severity", NS: OSCALNamespace, Value: w.Severity},
			}}
		for _, a := range w.Artifacts {
			if o, ok := obs[string(a.Digest)]; ok {
				rk.RelatedObservations = append(rk.RelatedObservations, oscalRelatedObservation{ObservationUUID: o})
			}
		}
		out = append(out, rk)
		for _, q := range w.Requirements {
			byReq[q] = append(byReq[q], id)
		}
	}
	for _, w := range r.AcceptedWeaknesses {
		e := w.Exception
		add(w, uuidV5(key+"|risk|accepted|"+e.ID+"|"+w.Code), "deviation-approved",
			fmt.Sprintf("Accepted by exception %s, owner %s, until %s: %s", e.ID, e.Owner, stamp(e.ExpiresAt), e.Reason),
			stamp(e.ExpiresAt))
	}
	for _, w := range r.OpenWeaknesses {
		add(w, uuidV5(key+"|risk|open|"+w.Code), "open", w.Explanation(), "")
	}
	return out, byReq
}

// Explanation is a one-line statement of an open weakness.
func (w Weakness) Explanation() string {
	return fmt.Sprintf("%d deployed artifact(s) have the gap %s (%s), which no active exception accepts.", len(w.Artifacts), w.Code, w.Title)
}

// AssessmentResults returns r as an OSCAL 1.1.2 assessment-results document (for
// json.Marshal) that imports the assessment plan AssessmentPlan(r) by AssessmentPlanHref.
func AssessmentResults(r *Report) any {
	key := docKey(r)
	obs, byDigest := observations(r)
	rks, riskByReq := risks(r, byDigest)
	res := oscalResult{
		UUID:             uuidV5(key + "|result|" + contentKey(r)),
		Title:            r.Title,
		Description:      fmt.Sprintf("Automated assessment of %d deployed artifact(s) of %s against %s.", len(r.Artifacts), scopeText(r), frameworkName(r.Framework)),
		Start:            stamp(r.From),
		End:              stamp(r.To),
		ReviewedControls: reviewedControls(r),
		Observations:     obs,
		Risks:            rks,
	}
	for _, q := range r.Requirements {
		state, reason := "not-satisfied", "fail"
		if q.Status == Satisfied {
			state, reason = "satisfied", "pass"
		}
		f := oscalFinding{
			UUID:  uuidV5(key + "|finding|" + q.ID),
			Title: q.ID + " " + q.Title,
			Description: fmt.Sprintf("%s: %d of %d deployed artifact(s) meet it (%d with accepted exceptions), %d do not; %d evidence document(s), %d verified.",
				q.Status, q.Satisfying, q.Artifacts, q.Accepted, q.Failing, q.EvidenceDocuments, q.EvidenceVerified),
			Props: []oscalProp{{Name: "aspm-status", NS: OSCALNamespace, Value: q.Status}},
			Target: oscalTarget{Type: "objective-id", TargetID: controlIDOf(r.Framework, q.ID), Title: q.Title,
				Status: oscalStatus{State: state, Reason: reason}},
		}
		for _, b := range q.Baselines {
			f.Props = append(f.Props, oscalProp{Name: "fedramp-baseline", NS: OSCALNamespace, Value: b})
		}
		for _, a := range r.Artifacts {
			f.RelatedObservations = append(f.RelatedObservations, oscalRelatedObservation{ObservationUUID: byDigest[string(a.Digest)]})
		}
		for _, id := range riskByReq[q.ID] {
			f.RelatedRisks = append(f.RelatedRisks, oscalRelatedRisk{RiskUUID: id})
		}
		res.Findings = append(res.Findings, f)
	}
	return map[string]any{"assessment-results": oscalAssessmentResults{
		UUID:     uuidV5(key + "|assessment-results|" + contentKey(r)),
		Metadata: metadata(r, "assessment results"),
		ImportAP: oscalImport{Href: AssessmentPlanHref, Remarks: "The assessment plan is the oscal-ap output of the same report."},
		Results:  []oscalResult{res},
	}}
}

// AssessmentPlan returns the minimal OSCAL 1.1.2 assessment-plan document that
// AssessmentResults(r) imports: the controls reviewed and the subjects (every deployed
// artifact in scope).
func AssessmentPlan(r *Report) any {
	key := docKey(r)
	return map[string]any{"assessment-plan": oscalAssessmentPlan{
		UUID:     uuidV5(key + "|assessment-plan"),
		Metadata: metadata(r, "assessment plan"),
		ImportSSP: oscalImport{Href: "urn:aspm:ssp:" + r.Org,
			Remarks: "aspm does not write a system security plan; this names the org whose plan applies."},
		ReviewedControls: reviewedControls(r),
		AssessmentSubjects: []oscalAssessmentSubject{{Type: "inventory-item",
			Description: fmt.Sprintf("Every artifact with a running deployment of %s, as recorded by aspm.", scopeText(r))}},
	}}
}

// POAM returns r's weaknesses as an OSCAL 1.1.2 plan-of-action-and-milestones document: one
// item per open weakness and per accepted one (FedRAMP's accepted weaknesses, for agencies
// that still track them in a POA&M).
func POAM(r *Report) any {
	key := docKey(r)
	obs, byDigest := observations(r)
	rks, _ := risks(r, byDigest)
	items := []oscalPOAMItem{}
	for _, rk := range rks {
		it := oscalPOAMItem{UUID: uuidV5(key + "|poam-item|" + rk.UUID), Title: rk.Title, Description: rk.Description,
			Props:               rk.Props,
			RelatedObservations: rk.RelatedObservations,
			RelatedRisks:        []oscalRelatedRisk{{RiskUUID: rk.UUID}}}
		if rk.Status == "deviation-approved" {
			it.Remarks = rk.Statement
		} else {
			it.Remarks = "Open: remediate, or accept the risk with an exception (aspm exception create)."
		}
		items = append(items, it)
	}
	return map[string]any{"plan-of-action-and-milestones": oscalPOAM{
		UUID:         uuidV5(key + "|poam|" + contentKey(r)),
		Metadata:     metadata(r, "plan of action and milestones"),
		Observations: obs,
		Risks:        rks,
		POAMItems:    items,
	}}
}
