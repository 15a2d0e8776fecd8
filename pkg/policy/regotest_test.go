package policy_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/policies"
)

func TestRunTestsDefaultPolicies(t *testing.T) {
	var out bytes.Buffer
	sum, err := policy.RunTests(context.Background(), policies.FS, &out, false)
	if err != nil {
		t.Fatalf("RunTests(policies.FS): %v\n%s", err, out.String())
	}
	if sum.Failed != 0 || sum.Errored != 0 || sum.Passed < 40 {
		t.Fatalf("RunTests(policies.FS) = %+v; want no failures and at least 40 passed\n%s", sum, out.String())
	}
	if !strings.Contains(out.String(), "PASS: ") {
		t.Errorf("RunTests output lacks the PASS summary:\n%s", out.String())
	}
}

func TestRunTestsFailsLoudly(t *testing.T) {
	fsys := fstest.MapFS{
		"p.rego":          {Data: []byte("package aspm\n\ndecision := {\"level\": data.aspm.level}\n")},
		"p_test.rego":     {Data: []byte("package aspm_test\n\nimport data.aspm\n\ntest_passes if aspm.decision.level == 2\n\ntest_fails if aspm.decision.level == 3\n\ntest_errors if to_number(\"x\")\n")},
		"data/level.json": {Data: []byte(`{"aspm": {"level": 2}}`)},
	}
	var out bytes.Buffer
	sum, err := policy.RunTests(context.Background(), fsys, &out, true)
	if !errors.Is(err, policy.ErrTestsFailed) {
		t.Fatalf("RunTests error = %v; want ErrTestsFailed\n%s", err, out.String())
	}
	if want := (policy.TestSummary{Passed: 1, Failed: 1, Errored: 1}); sum != want {
		t.Errorf("RunTests summary = %+v; want %+v", sum, want)
	}
	for _, want := range []string{
		"data.aspm_test.test_passes: PASS",
		"data.aspm_test.test_fails: FAIL",
		"p_test.rego:7:",
		"eval_builtin_error: to_number",
		"ERROR: 1/3",
		"FAIL: 1/3",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("RunTests output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunTestsWithoutTests(t *testing.T) {
	fsys := fstest.MapFS{"p.rego": {Data: []byte("package aspm\n\ndecision := {}\n")}}
	if _, err := policy.RunTests(context.Background(), fsys, &bytes.Buffer{}, false); !errors.Is(err, policy.ErrNoTests) {
		t.Fatalf("RunTests error = %v; want ErrNoTests", err)
	}
}

func TestRunTestsNamesTheFileThatFailsToParse(t *testing.T) {
	fsys := fstest.MapFS{"broken_test.rego": {Data: []byte("package aspm_test\n\ntest_x if {\n")}}
	_, err := policy.RunTests(context.Background(), fsys, &bytes.Buffer{}, false)
	var fe *policy.FileError
	if !errors.As(err, &fe) || fe.Path != "broken_test.rego" {
		t.Fatalf("RunTests error = %v; want a *policy.FileError for broken_test.rego", err)
	}
}
