package httpapi

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aspmhq/aspm/pkg/report"
	"github.com/aspmhq/aspm/policies"
)

// reportMapping is the mapping table joined with the built-in gap catalogue, loaded once.
var reportMapping = sync.OnceValues(func() (*report.Mapping, error) { return report.LoadMapping(policies.FS) })

// parseReportTime reads a report window bound: a date (2026-11-01, its midnight UTC) or an
// RFC 3339 time; "" is the zero time.
func parseReportTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, invalid("%s %q: want a date (2026-11-01) or an RFC 3339 time", name, s)
	}
	return t.UTC(), nil
}

// reportHandler serves GET /v1/reports/{framework}?format=&from=&to=&org=&team=&env= (read):
// the framework's report on the org the token is bound to (an operator names it), in the
// format asked for (json by default).
func (a *API) reportHandler(framework string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		format := q.Get("format")
		if format == "" {
			format = report.FormatJSON
		}
		if report.ContentType(format) == "" {
			a.writeError(w, r, invalid("format %q: want json, csv, html, oscal-ar, oscal-ap or oscal-poam", format))
			return
		}
		rq := report.Query{Framework: framework, Org: q.Get("org"), Team: q.Get("team"), Environment: q.Get("env")}
		if err := narrow(principal(r), &rq.Org, &rq.Team, &rq.Environment); err != nil {
			a.writeError(w, r, err)
			return
		}
		if rq.Org == "" || rq.Org == "*" {
			a.writeError(w, r, invalid("this token sees every org: name the report's org with ?org="))
			return
		}
		var err error
		if rq.From, err = parseReportTime("from", q.Get("from")); err != nil {
			a.writeError(w, r, err)
			return
		}
		if rq.To, err = parseReportTime("to", q.Get("to")); err != nil {
			a.writeError(w, r, err)
			return
		}
		rq = rq.WithDefaults(a.Now())
		m, err := reportMapping()
		if err != nil {
			a.writeError(w, r, fmt.Errorf("loading the report mapping: %w", err))
			return
		}
		rep, err := report.Build(r.Context(), m, a.Store, a.Exceptions, rq)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		var buf bytes.Buffer
		if err := report.Render(&buf, rep, format); err != nil {
			a.writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", report.ContentType(format))
		switch format {
		case report.FormatJSON:
		case report.FormatHTML:
			w.Header().Set("Content-Disposition", fmt.Sprintf("inline; filename=%q", report.FileName(rep, format)))
		default:
			w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", report.FileName(rep, format)))
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(buf.Bytes())
	}
}
