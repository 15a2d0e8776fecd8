package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/aspmhq/aspm/cmd/aspm/internal/simulate"
	"github.com/aspmhq/aspm/pkg/store"
)

// isTerminal reports whether w is a terminal a person watches: a file that is a TTY, with
// $TERM not "dumb". Progress is drawn only there — never into a pipe, a file or a buffer.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// progressFunc reports how far a stage is: done of total, or done so far when total is 0.
type progressFunc func(stage string, done, total int)

// progressTo returns a progressFunc redrawing one line on w when w is a terminal, and one
// that does nothing otherwise.
func progressTo(w io.Writer) progressFunc {
	if !isTerminal(w) {
		return func(string, int, int) {}
	}
	return drawProgress(w)
}

// drawProgress returns a progressFunc redrawing one line on w, ending it when a stage with
// a total is done.
func drawProgress(w io.Writer) progressFunc {
	return func(stage string, done, total int) {
		if total <= 0 {
			fmt.Fprintf(w, "\r\033[K%s %d", stage, done)
			return
		}
		fmt.Fprintf(w, "\r\033[K%s %d/%d", stage, done, total)
		if done == total {
			fmt.Fprintln(w)
		}
	}
}

// countingSource is a simulate.Source counting the artifacts it hands on, as progress on
// out when out is a terminal.
type countingSource struct {
	simulate.Source
	stage string
	out   io.Writer
}

// EachArtifact hands every artifact to fn, counting them.
func (s countingSource) EachArtifact(ctx context.Context, fn func(store.ArtifactDetail) error) error {
	progress, n := progressTo(s.out), 0
	err := s.Source.EachArtifact(ctx, func(a store.ArtifactDetail) error {
		n++
		progress(s.stage, n, 0)
		return fn(a)
	})
	if n > 0 && isTerminal(s.out) {
		fmt.Fprintln(s.out)
	}
	return err
}
