package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// gitHub files tickets as GitHub issues through the REST API.
type gitHub struct {
	name string
	cfg  GitHubConfig
	c    *client
}

func newGitHub(name string, cfg GitHubConfig, hc *http.Client, now nowFunc) (*gitHub, error) {
	tok, err := readSecret(cfg.TokenEnv, "")
	if err != nil {
		return nil, err
	}
	return &gitHub{name: name, cfg: cfg, c: &client{http: hc, now: now,
		header: func(h http.Header) {
			h.Set("Authorization", "Bearer "+string(tok))
			h.Set("Accept", "application/vnd.github+json")
			h.Set("X-GitHub-Api-Version", "2022-11-28")
		},
		message: gitHubMessage,
	}}, nil
}

// gitHubMessage reads GitHub's error body: {"message": …, "errors": [{…}]}.
func gitHubMessage(body []byte) string {
	var e struct {
		Message string            `json:"message"`
		Errors  []json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	msg := e.Message
	for _, d := range e.Errors {
		msg += "; " + string(d)
	}
	return msg
}

type gitHubIssue struct {
	Number      int             `json:"number"`
	HTMLURL     string          `json:"html_url"`
	State       string          `json:"state"`
	PullRequest json.RawMessage `json:"pull_request,omitempty"`
}

func (g *gitHub) repoURL() string {
	return g.cfg.APIURL + "/repos/" + url.PathEscape(g.cfg.Owner) + "/" + url.PathEscape(g.cfg.Repo)
}

func (g *gitHub) ticket(is gitHubIssue) Ticket {
	t := Ticket{Sink: g.name, Key: fmt.Sprintf("%s/%s#%d", g.cfg.Owner, g.cfg.Repo, is.Number), URL: is.HTMLURL,
		Number: is.Number, State: StateOpen}
	if is.State == "closed" {
		t.State = StateClosed
	}
	return t
}

// find lists the issues labelled marker in every state, following the Link header's next
// pages, and returns the oldest (pull requests, which the endpoint lists too, are skipped).
func (g *gitHub) find(ctx context.Context, marker string) (*Ticket, error) {
	q := url.Values{"labels": {marker}, "state": {"all"}, "per_page": {"100"}, "sort": {"created"}, "direction": {"asc"}}
	next := g.repoURL() + "/issues?" + q.Encode()
	var best *gitHubIssue
	for range maxLookupPages {
		var page []gitHubIssue
		h, err := g.c.do(ctx, http.MethodGet, next, nil, &page)
		if err != nil {
			return nil, fmt.Errorf("github: listing issues labelled %s: %w", marker, err)
		}
		for i := range page {
			if len(page[i].PullRequest) > 0 {
				continue
			}
			if best == nil || page[i].Number < best.Number {
				best = &page[i]
			}
		}
		next = nextLink(h.Get("Link"))
		if next == "" {
			break
		}
	}
	if best == nil {
		return nil, nil
	}
	t := g.ticket(*best)
	return &t, nil
}

// nextLink returns the rel="next" target of an RFC 8288 Link header; "" when there is none.
func nextLink(h string) string {
	for part := range strings.SplitSeq(h, ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if !ok {
			continue
		}
		for p := range strings.SplitSeq(params, ";") {
			if k, v, _ := strings.Cut(strings.TrimSpace(p), "="); k == "rel" && strings.Trim(v, `"`) == "next" {
				return strings.Trim(strings.TrimSpace(target), "<>")
			}
		}
	}
	return ""
}

func (g *gitHub) create(ctx context.Context, marker string, is issue) (Ticket, error) {
	body := map[string]any{"title": is.title, "body": is.body, "labels": append([]string{marker, "aspm"}, g.cfg.Labels...)}
	var out gitHubIssue
	if _, err := g.c.do(ctx, http.MethodPost, g.repoURL()+"/issues", body, &out); err != nil {
		return Ticket{}, fmt.Errorf("github: creating issue: %w", err)
	}
	if out.Number == 0 {
		return Ticket{}, fmt.Errorf("github: creating issue: the answer has no number")
	}
	return g.ticket(out), nil
}

func (g *gitHub) comment(ctx context.Context, t Ticket, text string) error {
	u := fmt.Sprintf("%s/issues/%d/comments", g.repoURL(), t.Number)
	if _, err := g.c.do(ctx, http.MethodPost, u, map[string]string{"body": text}, nil); err != nil {
		return fmt.Errorf("github: commenting on %s: %w", t.Key, err)
	}
	return nil
}

func (g *gitHub) setState(ctx context.Context, t Ticket, body map[string]string) error {
	u := fmt.Sprintf("%s/issues/%d", g.repoURL(), t.Number)
	if _, err := g.c.do(ctx, http.MethodPatch, u, body, nil); err != nil {
		return fmt.Errorf("github: setting %s %s: %w", t.Key, body["state"], err)
	}
	return nil
}

func (g *gitHub) close(ctx context.Context, t Ticket) error {
	return g.setState(ctx, t, map[string]string{"state": "closed", "state_reason": "completed"})
}

func (g *gitHub) reopen(ctx context.Context, t Ticket) error {
	return g.setState(ctx, t, map[string]string{"state": "open"})
}
