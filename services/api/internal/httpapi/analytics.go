package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

// Analytics is the part of the store the read endpoints beyond coverage need.
type Analytics interface {
	store.Reader
	store.ComponentSearch
	store.GapFeed
	store.TrendReader
}

// page is the envelope of paginated answers: the items and the cursor of the next page.
type page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

func limitParam(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return 0, invalid("limit %q: want 1 to 1000", s)
	}
	return n, nil
}

// listArtifacts serves GET /v1/artifacts?org&team&env&level&gap&repository&ended&limit&after.
func (a *API) listArtifacts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	aq := store.ArtifactQuery{Org: q.Get("org"), Team: q.Get("team"), Environment: q.Get("env"), Gap: q.Get("gap"),
		Repository: q.Get("repository"), After: q.Get("after"), IncludeEnded: q.Get("ended") == "true"}
	if l := q.Get("level"); l != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(strings.ToUpper(l), "L"))
		if err != nil {
			a.writeError(w, r, invalid("level %q: want 0 to 3 (or L0 to L3)", l))
			return
		}
		lv := evidence.Level(n)
		aq.Level = &lv
	}
	var err error
	if aq.Limit, err = limitParam(r); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := narrow(principal(r), &aq.Org, &aq.Team, &aq.Environment); err != nil {
		a.writeError(w, r, err)
		return
	}
	items, next, err := a.Store.ListArtifacts(r.Context(), aq)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if items == nil {
		items = []store.ArtifactSummary{}
	}
	writeJSON(w, http.StatusOK, page[store.ArtifactSummary]{Items: items, Next: next})
}

// trend serves GET /v1/coverage/trend?from&to&by=org|team|env (dates YYYY-MM-DD or RFC 3339;
// default the last 30 days, by env).
func (a *API) trend(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	now := a.Now().UTC()
	tq := store.TrendQuery{By: q.Get("by"), Org: q.Get("org"), Team: q.Get("team"), Environment: q.Get("env"),
		From: now.AddDate(0, 0, -30).Truncate(24 * time.Hour), To: now}
	if tq.By == "" {
		tq.By = "env"
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &tq.From}, {"to", &tq.To}} {
		s := q.Get(p.name)
		if s == "" {
			continue
		}
		t, err := parseTime(s)
		if err != nil {
			a.writeError(w, r, invalid("%s %q: want YYYY-MM-DD or an RFC 3339 time", p.name, s))
			return
		}
		*p.dst = t
	}
	if err := narrow(principal(r), &tq.Org, &tq.Team, &tq.Environment); err != nil {
		a.writeError(w, r, err)
		return
	}
	points, err := a.Analytics.Trend(r.Context(), tq)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if points == nil {
		points = []store.TrendPoint{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": tq.From, "to": tq.To, "by": tq.By, "points": points})
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

// gaps serves GET /v1/gaps?state=open|closed|all&org&team&env&code&severity&limit&after, the
// feed automation polls. It answers with an ETag; a request with If-None-Match equal to it
// gets 304 Not Modified when nothing changed.
func (a *API) gaps(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	gq := store.GapQuery{State: q.Get("state"), Org: q.Get("org"), Team: q.Get("team"), Environment: q.Get("env"),
		Code: q.Get("code"), Severity: q.Get("severity"), After: q.Get("after")}
	var err error
	if gq.Limit, err = limitParam(r); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := narrow(principal(r), &gq.Org, &gq.Team, &gq.Environment); err != nil {
		a.writeError(w, r, err)
		return
	}
	// Refuse a bad query (a made-up cursor) before tagging it, so it never answers 304.
	if err := gq.Validate(); err != nil {
		a.writeError(w, r, err)
		return
	}
	version, err := a.Analytics.GapsVersion(r.Context(), gq)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	tickets, err := a.ticketsVersion(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	exs, accepted, err := a.acceptances(r.Context(), gq.Org)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	// The tag covers the data, tickets and acceptances versions and the query as narrowed to
	// the token, page included.
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%+v", version, tickets, accepted, gq))
	etag := `"` + hex.EncodeToString(h[:12]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "private, no-cache")
	if match := r.Header.Get("If-None-Match"); match != "" && (match == etag || match == "*") {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	items, next, err := a.Analytics.Gaps(r.Context(), gq)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	store.MarkAccepted(items, exs, a.Now())
	views, err := a.withTickets(r.Context(), items)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page[GapItemView]{Items: views, Next: next})
}

// components serves GET /v1/components?purl=… or ?name=…[&version=…], with org/team/env
// filters: every running workload whose artifact's SBOM lists the component.
func (a *API) components(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	cq := store.ComponentQuery{PURL: q.Get("purl"), Name: q.Get("name"), Version: q.Get("version"),
		Org: q.Get("org"), Team: q.Get("team"), Environment: q.Get("env"), After: q.Get("after")}
	if cq.PURL == "" && cq.Name == "" {
		a.writeError(w, r, invalid("give ?purl=pkg:… or ?name=… (and optionally &version=…)"))
		return
	}
	var err error
	if cq.Limit, err = limitParam(r); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := narrow(principal(r), &cq.Org, &cq.Team, &cq.Environment); err != nil {
		a.writeError(w, r, err)
		return
	}
	items, next, err := a.Analytics.Components(r.Context(), cq)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if items == nil {
		items = []store.ComponentHit{}
	}
	writeJSON(w, http.StatusOK, page[store.ComponentHit]{Items: items, Next: next})
}

// DeploymentView is one deployment in GET /v1/deployments.
type DeploymentView struct {
	evidence.Deployment
	SLSALevel evidence.Level `json:"slsa_level"`
}

// listDeployments serves GET /v1/deployments?org&team&env&ended&limit&after: the deployments
// of the artifacts in one page of the artifact listing (the cursor is the listing's).
func (a *API) listDeployments(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	aq := store.ArtifactQuery{Org: q.Get("org"), Team: q.Get("team"), Environment: q.Get("env"), After: q.Get("after"), IncludeEnded: q.Get("ended") == "true"}
	var err error
	if aq.Limit, err = limitParam(r); err != nil {
		a.writeError(w, r, err)
		return
	}
	if aq.Limit == 0 || aq.Limit > 100 {
		aq.Limit = 100
	}
	tok := principal(r)
	if err := narrow(tok, &aq.Org, &aq.Team, &aq.Environment); err != nil {
		a.writeError(w, r, err)
		return
	}
	items, next, err := a.Store.ListArtifacts(r.Context(), aq)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := []DeploymentView{}
	for _, it := range items {
		det, err := a.Store.Artifact(r.Context(), it.Image.Digest)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		for _, d := range det.Deployments {
			if !tok.Sees(d.Org, d.Team, d.Environment) || (aq.Environment != "" && d.Environment != aq.Environment) ||
				(aq.Team != "" && d.Team != aq.Team) || (aq.Org != "" && d.Org != aq.Org) || (d.Ended() && !aq.IncludeEnded) {
				continue
			}
			v := DeploymentView{Deployment: d}
			for _, s := range det.Scores {
				if s.Environment == d.Environment {
					v.SLSALevel = s.Level
				}
			}
			out = append(out, v)
		}
	}
	writeJSON(w, http.StatusOK, page[DeploymentView]{Items: out, Next: next})
}
