// Package testcorpus finds the real-world supply-chain corpus (../shared/testdata/real next to
// the repository, or $ASPM_TESTDATA) for tests. With CI=true a missing corpus fails the test;
// elsewhere it skips it.
package testcorpus

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the corpus directory.
func Dir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("ASPM_TESTDATA"); d != "" {
		return check(tb, d)
	}
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return check(tb, filepath.Join(dir, "..", "shared", "testdata", "real"))
		}
		if filepath.Dir(dir) == dir {
			tb.Fatalf("testcorpus: no go.work above %s", wd)
		}
	}
}

func check(tb testing.TB, dir string) string {
	tb.Helper()
	if _, err := os.Stat(filepath.Join(dir, "SOURCES.md")); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("testcorpus: the real-world corpus is missing at %s (set ASPM_TESTDATA): %v", dir, err)
		}
		tb.Skipf("testcorpus: the real-world corpus is missing at %s (set ASPM_TESTDATA)", dir)
	}
	return dir
}

// Read returns the corpus file at rel (a slash-separated path below the corpus root).
func Read(tb testing.TB, rel string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(tb), filepath.FromSlash(rel)))
	if err != nil {
		tb.Fatalf("testcorpus: %v", err)
	}
	return b
}

// Path returns the absolute path of the corpus file at rel.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	return filepath.Join(Dir(tb), filepath.FromSlash(rel))
}
