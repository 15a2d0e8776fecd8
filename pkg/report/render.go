package report

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// The formats a report renders to.
const (
	FormatJSON      = "json"
	FormatCSV       = "csv"
	FormatHTML      = "html"
	FormatOSCALAR   = "oscal-ar"   // OSCAL 1.1.2 assessment-results
	FormatOSCALAP   = "oscal-ap"   // OSCAL 1.1.2 assessment-plan
	FormatOSCALPOAM = "oscal-poam" // OSCAL 1.1.2 plan-of-action-and-milestones
)

// Formats lists the formats Render accepts.
var Formats = []string{FormatJSON, FormatCSV, FormatHTML, FormatOSCALAR, FormatOSCALAP, FormatOSCALPOAM}

// AssessmentPlanHref is the href by which assessment results import their plan: save the
// oscal-ap output under this name next to the oscal-ar output.
const AssessmentPlanHref = "assessment-plan.json"

// ContentType returns the media type of format, or "" for an unknown format.
func ContentType(format string) string {
	switch format {
	case FormatJSON:
		return "application/json"
	case FormatCSV:
		return "text/csv; charset=utf-8"
	case FormatHTML:
		return "text/html; charset=utf-8"
	case FormatOSCALAR, FormatOSCALAP, FormatOSCALPOAM:
		return "application/oscal+json"
	}
	return ""
}

// FileName returns the name a download of r in format should have.
func FileName(r *Report, format string) string {
	base := fmt.Sprintf("aspm-%s-%s-%s", r.Framework, r.Org, r.To.Format("20060102T150405Z"))
	switch format {
	case FormatCSV:
		return base + ".csv"
	case FormatHTML:
		return base + ".html"
	case FormatOSCALAR:
		return base + "-assessment-results.json"
	case FormatOSCALAP:
		return AssessmentPlanHref
	case FormatOSCALPOAM:
		return base + "-poam.json"
	}
	return base + ".json"
}

// Render writes r in format to w. The output is a function of r alone. The error wraps
// evidence.ErrInvalid for an unknown format, or is w's.
func Render(w io.Writer, r *Report, format string) error {
	var b []byte
	var err error
	switch format {
	case FormatJSON:
		b, err = marshal(r)
	case FormatCSV:
		b, err = renderCSV(r)
	case FormatHTML:
		b, err = renderHTML(r)
	case FormatOSCALAR:
		b, err = marshal(AssessmentResults(r))
	case FormatOSCALAP:
		b, err = marshal(AssessmentPlan(r))
	case FormatOSCALPOAM:
		b, err = marshal(POAM(r))
	default:
		return fmt.Errorf("%w: format %q: want one of %s", evidence.ErrInvalid, format, strings.Join(Formats, ", "))
	}
	if err != nil {
		return fmt.Errorf("rendering the %s report as %s: %w", r.Framework, format, err)
	}
	_, err = w.Write(b)
	return err
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// CSVHeader is the header row of a CSV report: one row per requirement follows.
var CSVHeader = []string{"framework", "id", "title", "baselines", "status", "artifacts", "satisfying", "accepted",
	"failing", "evidence_documents", "evidence_verified", "gap_codes", "rules", "failing_artifacts", "exceptions"}

func renderCSV(r *Report) ([]byte, error) {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	if err := cw.Write(CSVHeader); err != nil {
		return nil, err
	}
	for _, q := range r.Requirements {
		var failing, exs []string
		for _, f := range q.FailingArtifacts {
			failing = append(failing, fmt.Sprintf("%s@%s [%s] (%s)", f.Repository, f.Digest,
				strings.Join(f.Environments, " "), strings.Join(f.Gaps, " ")))
		}
		for _, e := range q.Exceptions {
			exs = append(exs, fmt.Sprintf("%s %s owner=%s expires=%s", e.ID, e.Code, e.Owner, e.ExpiresAt.Format(time.RFC3339)))
		}
		row := []string{r.Framework, q.ID, q.Title, strings.Join(q.Baselines, " "), q.Status,
			strconv.Itoa(q.Artifacts), strconv.Itoa(q.Satisfying), strconv.Itoa(q.Accepted), strconv.Itoa(q.Failing),
			strconv.Itoa(q.EvidenceDocuments), strconv.Itoa(q.EvidenceVerified), strings.Join(q.Codes, " "),
			strings.Join(q.Rules, " "), strings.Join(failing, "; "), strings.Join(exs, "; ")}
		if err := cw.Write(row); err != nil {
			return nil, err
		}
	}
	cw.Flush()
	return buf.Bytes(), cw.Error()
}

//go:embed report.html.tmpl
var htmlTemplate string

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"date": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"join": strings.Join,
	"short": func(d evidence.Digest) string {
		s := string(d)
		if len(s) > 19 {
			return s[:19] + "…"
		}
		return s
	},
	"baselines": func(b []string) string {
		if len(b) == 0 {
			return "not in a FedRAMP baseline"
		}
		return strings.Join(b, ", ")
	},
}).Parse(htmlTemplate))

func renderHTML(r *Report) ([]byte, error) {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
