package notifytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// GitHubIssue is an issue (or pull request) in the fake GitHub repository.
type GitHubIssue struct {
	Number      int
	Title, Body string
	Labels      []string
	// State is "open" or "closed"; StateReason what the last PATCH said.
	State, StateReason string
	Comments           []string
	PullRequest        bool
}

// GitHub is a fake GitHub REST API serving one repository's issues endpoints the notifier
// uses: listing with label and state filters and Link-header pagination (per_page, page),
// creation, update (state) and comments. Every answer carries x-ratelimit-* headers; a spent
// primary limit answers 403 with x-ratelimit-remaining 0, as GitHub does. Requests must carry
// "Authorization: Bearer <token>".
type GitHub struct {
	faults
	// URL is the API root, as api_url.
	URL string
	// MaxPerPage caps per_page (GitHub caps it at 100); default 100.
	MaxPerPage int
	// RateLimit is the requests allowed in the window; default 5000.
	RateLimit int

	owner, repo, token string
	mu                 sync.Mutex
	issues             []*GitHubIssue
	used               int
	reset              time.Time
}

// NewGitHub starts a fake GitHub API holding the repository owner/repo, accepting token; it
// stops when the test ends.
func NewGitHub(tb testing.TB, owner, repo, token string) *GitHub {
	tb.Helper()
	g := &GitHub{owner: owner, repo: repo, token: token, MaxPerPage: 100, RateLimit: 5000, reset: time.Now().Add(time.Hour)}
	srv := httptest.NewServer(http.HandlerFunc(g.serveHTTP))
	tb.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

// Issues returns copies of the issues and pull requests, by number.
func (g *GitHub) Issues() []GitHubIssue {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]GitHubIssue, 0, len(g.issues))
	for _, is := range g.issues {
		c := *is
		c.Labels, c.Comments = slices.Clone(is.Labels), slices.Clone(is.Comments)
		out = append(out, c)
	}
	return out
}

// Seed adds an issue (or, with pr, a pull request) with labels; it returns its number.
func (g *GitHub) Seed(title string, pr bool, labels ...string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	is := &GitHubIssue{Number: len(g.issues) + 1, Title: title, Labels: labels, State: "open", PullRequest: pr}
	g.issues = append(g.issues, is)
	return is.Number
}

func gitHubError(status int) string {
	msg := map[int]string{
		http.StatusUnauthorized:        "Bad credentials",
		http.StatusForbidden:           "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
		http.StatusNotFound:            "Not Found",
		http.StatusUnprocessableEntity: "Validation Failed",
		http.StatusTooManyRequests:     "API rate limit exceeded",
		http.StatusInternalServerError: "Server Error",
		http.StatusBadGateway:          "Server Error",
		http.StatusServiceUnavailable:  "Service Unavailable",
	}[status]
	b, _ := json.Marshal(map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest", "status": strconv.Itoa(status)})
	return string(b)
}

func writeGitHubError(w http.ResponseWriter, status int, extra map[string]any) {
	var body map[string]any
	_ = json.Unmarshal([]byte(gitHubError(status)), &body)
	for k, v := range extra {
		body[k] = v
	}
	writeJSON(w, status, body)
}

var gitHubIssuePath = regexp.MustCompile(`^/repos/([^/]+)/([^/]+)/issues(?:/([0-9]+)(/comments)?)?$`)

func (g *GitHub) view(is *GitHubIssue) map[string]any {
	labels := []map[string]any{}
	for _, l := range is.Labels {
		labels = append(labels, map[string]any{"name": l})
	}
	v := map[string]any{"id": 1000 + is.Number, "number": is.Number, "title": is.Title, "body": is.Body, "state": is.State,
		"state_reason": nil, "labels": labels, "comments": len(is.Comments),
		"url":      fmt.Sprintf("%s/repos/%s/%s/issues/%d", g.URL, g.owner, g.repo, is.Number),
		"html_url": fmt.Sprintf("https://github.example/%s/%s/issues/%d", g.owner, g.repo, is.Number)}
	if is.StateReason != "" {
		v["state_reason"] = is.StateReason
	}
	if is.PullRequest {
		v["pull_request"] = map[string]any{"url": fmt.Sprintf("%s/repos/%s/%s/pulls/%d", g.URL, g.owner, g.repo, is.Number)}
		v["html_url"] = fmt.Sprintf("https://github.example/%s/%s/pull/%d", g.owner, g.repo, is.Number)
	}
	return v
}

func (g *GitHub) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	g.serve(w, r, body, gitHubError, func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+g.token {
			writeGitHubError(w, http.StatusUnauthorized, nil)
			return
		}
		g.used++
		remaining := max(0, g.RateLimit-g.used)
		h := w.Header()
		h.Set("X-Ratelimit-Limit", strconv.Itoa(g.RateLimit))
		h.Set("X-Ratelimit-Remaining", strconv.Itoa(remaining))
		h.Set("X-Ratelimit-Used", strconv.Itoa(g.used))
		h.Set("X-Ratelimit-Reset", strconv.FormatInt(g.reset.Unix(), 10))
		h.Set("X-Ratelimit-Resource", "core")
		if g.used > g.RateLimit {
			writeGitHubError(w, http.StatusForbidden, map[string]any{"message": "API rate limit exceeded for user."})
			return
		}
		m := gitHubIssuePath.FindStringSubmatch(r.URL.Path)
		if m == nil || m[1] != g.owner || m[2] != g.repo {
			writeGitHubError(w, http.StatusNotFound, nil)
			return
		}
		if m[3] == "" {
			switch r.Method {
			case http.MethodGet:
				g.list(w, r)
			case http.MethodPost:
				g.create(w, body)
			default:
				writeGitHubError(w, http.StatusNotFound, nil)
			}
			return
		}
		n, _ := strconv.Atoi(m[3])
		if n < 1 || n > len(g.issues) {
			writeGitHubError(w, http.StatusNotFound, nil)
			return
		}
		is := g.issues[n-1]
		switch {
		case m[4] == "/comments" && r.Method == http.MethodPost:
			var c struct {
				Body string `json:"body"`
			}
			if json.Unmarshal(body, &c) != nil || c.Body == "" {
				writeGitHubError(w, http.StatusUnprocessableEntity, map[string]any{"errors": []map[string]string{{"resource": "IssueComment", "code": "missing_field", "field": "body"}}})
				return
			}
			is.Comments = append(is.Comments, c.Body)
			writeJSON(w, http.StatusCreated, map[string]any{"id": len(is.Comments), "body": c.Body})
		case m[4] == "" && r.Method == http.MethodGet:
			writeJSON(w, http.StatusOK, g.view(is))
		case m[4] == "" && r.Method == http.MethodPatch:
			var p struct {
				State       *string `json:"state"`
				StateReason *string `json:"state_reason"`
			}
			if json.Unmarshal(body, &p) != nil {
				writeGitHubError(w, http.StatusBadRequest, map[string]any{"message": "Problems parsing JSON"})
				return
			}
			if p.State != nil {
				if *p.State != "open" && *p.State != "closed" {
					writeGitHubError(w, http.StatusUnprocessableEntity, map[string]any{"errors": []map[string]string{{"resource": "Issue", "code": "invalid", "field": "state"}}})
					return
				}
				is.State = *p.State
				is.StateReason = ""
				if p.StateReason != nil {
					is.StateReason = *p.StateReason
				} else if is.State == "open" {
					is.StateReason = "reopened"
				}
			}
			writeJSON(w, http.StatusOK, g.view(is))
		default:
			writeGitHubError(w, http.StatusNotFound, nil)
		}
	})
}

func (g *GitHub) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	if state != "open" && state != "closed" && state != "all" {
		writeGitHubError(w, http.StatusUnprocessableEntity, map[string]any{"errors": []map[string]string{{"resource": "Issue", "code": "invalid", "field": "state"}}})
		return
	}
	var want []string
	if l := q.Get("labels"); l != "" {
		want = strings.Split(l, ",")
	}
	per, page := 30, 1
	if s := q.Get("per_page"); s != "" {
		per, _ = strconv.Atoi(s)
	}
	per = min(max(per, 1), g.MaxPerPage)
	if s := q.Get("page"); s != "" {
		page, _ = strconv.Atoi(s)
		page = max(page, 1)
	}
	var hits []*GitHubIssue
	for _, is := range g.issues {
		if state != "all" && is.State != state {
			continue
		}
		ok := true
		for _, l := range want {
			ok = ok && slices.Contains(is.Labels, l)
		}
		if ok {
			hits = append(hits, is)
		}
	}
	if q.Get("direction") != "asc" {
		slices.Reverse(hits) // GitHub's default: newest first
	}
	out := []map[string]any{}
	for i := (page - 1) * per; i < len(hits) && i < page*per; i++ {
		out = append(out, g.view(hits[i]))
	}
	last := max(1, (len(hits)+per-1)/per)
	link := func(p int, rel string) string {
		u := url.URL{Path: r.URL.Path}
		v := r.URL.Query()
		v.Set("page", strconv.Itoa(p))
		u.RawQuery = v.Encode()
		return fmt.Sprintf(`<%s%s>; rel="%s"`, g.URL, u.String(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(page-1, "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *GitHub) create(w http.ResponseWriter, body []byte) {
	var req struct {
		Title  string   `json:"title"`
		Body   string   `json:"body"`
		Labels []string `json:"labels"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeGitHubError(w, http.StatusBadRequest, map[string]any{"message": "Problems parsing JSON"})
		return
	}
	if req.Title == "" {
		writeGitHubError(w, http.StatusUnprocessableEntity, map[string]any{"errors": []map[string]string{{"resource": "Issue", "code": "missing_field", "field": "title"}}})
		return
	}
	is := &GitHubIssue{Number: len(g.issues) + 1, Title: req.Title, Body: req.Body, Labels: req.Labels, State: "open"}
	g.issues = append(g.issues, is)
	w.Header().Set("Location", fmt.Sprintf("%s/repos/%s/%s/issues/%d", g.URL, g.owner, g.repo, is.Number))
	writeJSON(w, http.StatusCreated, g.view(is))
}
