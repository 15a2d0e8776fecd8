package cli_test

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/aspmhq/aspm/cmd/aspm/internal/cli"
)

// EnvReportOut names a directory where TestReportDemo also writes the demo's SSDF HTML report
// and OSCAL assessment results (ssdf.html, assessment-results.json, assessment-plan.json,
// poam.json), for people to read.
const EnvReportOut = "ASPM_REPORT_OUT"

// TestReportDemo runs aspm report on the demo data, with one exception accepting
// legacy-batch's missing provenance: every format, twice, byte-identical; the HTML with its
// figures; the OSCAL documents valid against the OSCAL 1.1.2 schema.
func TestReportDemo(t *testing.T) {
	data := demoData(t)
	code, out, errOut := run(t, "exception", "create", "--org", "acme", "--code", "provenance.missing",
		"--repository", "*/legacy-batch", "--env", "prod", "--reason", "Batch job retires in Q1; rebuilt on the trusted builder before then",
		"--owner", "payments-lead@acme.example", "--ttl", "90d", "--actor", "cli:test", "--data-dir", data)
	if code != cli.ExitOK {
		t.Fatalf("exception create: exit %d, %s %s", code, out, errOut)
	}
	// The window ends after the exception was made, on a whole minute.
	to := time.Now().UTC().Add(time.Minute).Truncate(time.Minute).Format(time.RFC3339)
	report := func(framework, format string) string {
		t.Helper()
		code, out, errOut := run(t, "report", framework, "--org", "acme", "--to", to, "--format", format, "--data-dir", data)
		if code != cli.ExitOK {
			t.Fatalf("report %s --format %s: exit %d, %s", framework, format, code, errOut)
		}
		return out
	}
	outputs := map[string]string{}
	for _, fw := range []string{"ssdf", "fedramp"} {
		for _, format := range []string{"json", "csv", "html", "oscal-ar", "oscal-ap", "oscal-poam"} {
			first := report(fw, format)
			if again := report(fw, format); again != first {
				t.Errorf("report %s --format %s: two runs differ", fw, format)
			}
			outputs[fw+"/"+format] = first
		}
	}

	page := outputs["ssdf/html"]
	for _, want := range []string{
		`<td id="artifacts">15</td>`, // every demo artifact runs in acme
		"PW.4.1", "RV.1.1", "PS.3.2",
		"payments-lead@acme.example", "provenance.missing",
		`<h2>Accepted weaknesses</h2>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("SSDF HTML lacks %q", want)
		}
	}
	// RV.1.1 needs an SBOM inventory: the demo attaches SBOMs to 5 of its 15 artifacts.
	rows, err := csv.NewReader(strings.NewReader(outputs["ssdf/csv"])).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v", err)
	}
	found := false
	for _, row := range rows {
		if row[1] == "RV.1.1" {
			found = true
			if row[4] != "partially-satisfied" || row[5] != "15" || row[6] != "5" || row[8] != "10" {
				t.Errorf("RV.1.1: %q; want partially-satisfied, 5 of 15 satisfying, 10 failing", row)
			}
		}
	}
	if !found {
		t.Error("no RV.1.1 row in the CSV")
	}
	if fed := outputs["fedramp/html"]; !strings.Contains(fed, "not in a FedRAMP baseline") || !strings.Contains(fed, "SR-4(1)") {
		t.Error("FedRAMP HTML lacks SR-4(1) or its baseline")
	}

	sch := oscalSchema(t)
	for _, k := range []string{"ssdf/oscal-ar", "ssdf/oscal-ap", "ssdf/oscal-poam", "fedramp/oscal-ar", "fedramp/oscal-ap", "fedramp/oscal-poam"} {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(outputs[k]))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if err := sch.Validate(v); err != nil {
			t.Errorf("%s does not validate against OSCAL 1.1.2: %v", k, err)
		}
	}

	if code, _, errOut := run(t, "report", "ssdf", "--data-dir", data); code != cli.ExitUsage || !strings.Contains(errOut, "--org") {
		t.Errorf("report without --org: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run(t, "report", "ssdf", "--org", "acme", "--format", "pdf", "--data-dir", data); code != cli.ExitUsage || !strings.Contains(errOut, "--format") {
		t.Errorf("report --format pdf: exit %d, %q", code, errOut)
	}
	file := filepath.Join(t.TempDir(), "r.html")
	if code, _, errOut := run(t, "report", "ssdf", "--org", "acme", "--to", to, "--format", "html", "--out", file, "--data-dir", data); code != cli.ExitOK || !strings.Contains(errOut, "wrote "+file) {
		t.Errorf("report --out: exit %d, %q", code, errOut)
	} else if b, _ := os.ReadFile(file); !bytes.Equal(b, []byte(page)) {
		t.Error("report --out wrote something else than standard output")
	}

	if dir := os.Getenv(EnvReportOut); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, k := range map[string]string{"ssdf.html": "ssdf/html", "assessment-results.json": "ssdf/oscal-ar",
			"assessment-plan.json": "ssdf/oscal-ap", "poam.json": "ssdf/oscal-poam", "fedramp.html": "fedramp/html",
			"fedramp-assessment-results.json": "fedramp/oscal-ar"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(outputs[k]), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("wrote the demo reports to %s", dir)
	}
}

func oscalSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "..", "shared", "testdata", "oscal", "oscal_complete_schema-1.1.2.json")
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the OSCAL schema: %v", err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("oscal_complete_schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("oscal_complete_schema.json")
	if err != nil {
		t.Fatalf("compiling the OSCAL schema: %v", err)
	}
	return sch
}
