// Package dashboard serves the built-in web dashboard: server-rendered pages with embedded
// assets only, so it works offline and without a CDN.
package dashboard

import (
	"context"
	"embed"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/aspmhq/aspm/pkg/store"
)

//go:embed templates/*.html
var templates embed.FS

var page = template.Must(template.ParseFS(templates, "templates/index.html"))

// Coverager answers coverage questions.
type Coverager interface {
	Coverage(ctx context.Context, q store.CoverageQuery) (store.Coverage, error)
}

// Dashboard renders the pages.
type Dashboard struct {
	Store Coverager
	Log   *slog.Logger
}

// Register adds the dashboard's routes to mux.
func (d *Dashboard) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", d.index)
}

type levelBar struct {
	Level   string
	Count   int
	Percent float64
}

type indexData struct {
	Coverage       store.Coverage
	VerifiedPct    float64
	Levels         []levelBar
	Org, Team, Env string
}

func pct(n, total int) float64 {
	if total == 0 {
		return 0
	}
	return float64(n) * 100 / float64(total)
}

func (d *Dashboard) index(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	cq := store.CoverageQuery{Org: q.Get("org"), Team: q.Get("team"), Environment: q.Get("env")}
	cov, err := d.Store.Coverage(r.Context(), cq)
	if err != nil {
		d.Log.Error("dashboard coverage", "err", err)
		http.Error(w, "coverage is unavailable right now", http.StatusServiceUnavailable)
		return
	}
	data := indexData{Coverage: cov, VerifiedPct: pct(cov.VerifiedProvenance, cov.Total), Org: cq.Org, Team: cq.Team, Env: cq.Environment}
	for _, l := range []string{"L0", "L1", "L2", "L3"} {
		data.Levels = append(data.Levels, levelBar{Level: l, Count: cov.ByLevel[l], Percent: pct(cov.ByLevel[l], cov.Total)})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'")
	if err := page.Execute(w, data); err != nil {
		d.Log.Error("rendering dashboard", "err", err)
	}
}
