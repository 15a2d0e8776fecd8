package cli

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
)

// walk calls fn for cmd and every command under it.
func walk(cmd *cobra.Command, fn func(*cobra.Command)) {
	fn(cmd)
	for _, c := range cmd.Commands() {
		walk(c, fn)
	}
}

// cobraProvided are the commands cobra adds itself.
func cobraProvided(c *cobra.Command) bool {
	for ; c != nil; c = c.Parent() {
		if c.Name() == "help" || c.Name() == "completion" {
			return true
		}
	}
	return false
}

// TestEveryCommandHasExamples walks the whole tree, cobra's own commands included, and fails
// on any of ours whose --help has no examples.
func TestEveryCommandHasExamples(t *testing.T) {
	root := newRoot(io.Discard, io.Discard)
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	n := 0
	walk(root, func(c *cobra.Command) {
		if cobraProvided(c) {
			return
		}
		n++
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%q has no Example", c.CommandPath())
		}
	})
	if n < 20 {
		t.Errorf("walked %d commands; the tree has more", n)
	}
}

// TestExamplesParse: every "aspm …" line in every Example names a real command and flags it
// has, with values they accept.
func TestExamplesParse(t *testing.T) {
	var examples []string
	walk(newRoot(io.Discard, io.Discard), func(c *cobra.Command) {
		examples = append(examples, exampleCommands(c.Example)...)
	})
	if len(examples) < 30 {
		t.Fatalf("found %d example command lines; the parser lost some", len(examples))
	}
	for _, line := range examples {
		args := shellWords(line)[1:] // drop "aspm"
		root := newRoot(io.Discard, io.Discard)
		root.InitDefaultCompletionCmd()
		cmd, rest, err := root.Find(args)
		if err != nil {
			t.Errorf("%s: %v", line, err)
			continue
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Errorf("%s: %v", line, err)
		}
	}
}

// exampleCommands returns the aspm command lines of an Example: continuation lines joined,
// anything after a pipe or redirection dropped, the aspm inside $(…) taken out.
func exampleCommands(example string) []string {
	var out []string
	joined := strings.ReplaceAll(example, "\\\n", " ")
	for _, line := range strings.Split(joined, "\n") {
		line = strings.TrimSpace(line)
		if i := strings.Index(line, "$(aspm "); i >= 0 {
			line = strings.TrimSuffix(line[i+2:], ")")
		}
		if !strings.HasPrefix(line, "aspm ") && line != "aspm" {
			continue
		}
		for _, sep := range []string{" | ", " > ", " >"} {
			if i := strings.Index(line, sep); i >= 0 {
				line = line[:i]
			}
		}
		out = append(out, line)
	}
	return out
}

// shellWords splits a command line into words as a shell would, for the quoting examples use.
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

func TestShellWords(t *testing.T) {
	got := shellWords(`aspm token create --org '*' --reason "a b"  --x=y`)
	want := []string{"aspm", "token", "create", "--org", "*", "--reason", "a b", "--x=y"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("shellWords (-want +got):\n%s", diff)
	}
}

// TestWriteFields: the table for a struct has one line per leaf, in field order, nested keys
// joined with dots, lists of scalars joined with commas.
func TestWriteFields(t *testing.T) {
	type stage struct {
		Fetch  float64 `json:"fetch"`
		Verify float64 `json:"verify"`
	}
	v := struct {
		Zeta   int       `json:"zeta"`
		Alpha  string    `json:"alpha"`
		Stages stage     `json:"stages"`
		Load   []float64 `json:"load"`
		Rows   []stage   `json:"rows"`
		None   *int      `json:"none"`
	}{Zeta: 2000, Alpha: "a \"b\"", Stages: stage{1.5, 0.25}, Load: []float64{0.5, 1}, Rows: []stage{{Fetch: 3}}}
	var b bytes.Buffer
	if err := writeFields(&b, v); err != nil {
		t.Fatal(err)
	}
	want := `zeta            2000
alpha           a "b"
stages.fetch    1.5
stages.verify   0.25
load            0.5,1
rows[0].fetch   3
rows[0].verify  0
none            -
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("writeFields (-want +got):\n%s", diff)
	}
}

// TestProgress: progress is drawn only on a terminal; into a buffer or a file it is nothing.
// What it draws redraws one line.
func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	p := progressTo(&buf)
	p("stage", 1, 2)
	p("stage", 2, 2)
	if buf.Len() != 0 || isTerminal(&buf) {
		t.Errorf("progress into a buffer: %q", buf.String())
	}
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("a regular file counts as a terminal")
	}
	buf.Reset()
	d := drawProgress(&buf)
	d("resolving tags", 1, 2)
	d("resolving tags", 2, 2)
	d("re-scoring", 7, 0)
	if want := "\r\033[Kresolving tags 1/2\r\033[Kresolving tags 2/2\n\r\033[Kre-scoring 7"; buf.String() != want {
		t.Errorf("drawn %q, want %q", buf.String(), want)
	}
}
