package notify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxLookupPages bounds how many pages a marker lookup reads.
const maxLookupPages = 50

// jira files tickets through Jira's REST API v2.
type jira struct {
	name string
	cfg  JiraConfig
	c    *client
}

func newJira(name string, cfg JiraConfig, hc *http.Client, now nowFunc) (*jira, error) {
	tok, err := readSecret(cfg.TokenEnv, "")
	if err != nil {
		return nil, err
	}
	auth := "Bearer " + string(tok)
	if cfg.UserEnv != "" {
		user, err := readSecret(cfg.UserEnv, "")
		if err != nil {
			return nil, err
		}
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(string(user)+":"+string(tok)))
	}
	return &jira{name: name, cfg: cfg, c: &client{http: hc, now: now,
		header:  func(h http.Header) { h.Set("Authorization", auth) },
		message: jiraMessage,
	}}, nil
}

// jiraMessage reads Jira's error body: {"errorMessages":[…],"errors":{field: message}}.
func jiraMessage(body []byte) string {
	var e struct {
		ErrorMessages []string          `json:"errorMessages"`
		Errors        map[string]string `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	msgs := e.ErrorMessages
	for k, v := range e.Errors {
		msgs = append(msgs, k+": "+v)
	}
	return strings.Join(msgs, "; ")
}

type jiraIssue struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	Fields struct {
		Status struct {
			Name           string `json:"name"`
			StatusCategory struct {
				Key string `json:"key"`
			} `json:"statusCategory"`
		} `json:"status"`
	} `json:"fields"`
}

func (j *jira) ticket(key string, done bool) Ticket {
	t := Ticket{Sink: j.name, Key: key, URL: j.cfg.BaseURL + "/browse/" + key, State: StateOpen}
	if done {
		t.State = StateClosed
	}
	return t
}

// find searches for issues labelled marker, reading every page, and returns the oldest.
func (j *jira) find(ctx context.Context, marker string) (*Ticket, error) {
	jql := fmt.Sprintf(`project = "%s" AND labels = "%s"`, j.cfg.Project, marker)
	var best *jiraIssue
	start := 0
	for range maxLookupPages {
		q := url.Values{"jql": {jql}, "startAt": {strconv.Itoa(start)}, "maxResults": {"50"}, "fields": {"status"}}
		var page struct {
			StartAt    int         `json:"startAt"`
			MaxResults int         `json:"maxResults"`
			Total      int         `json:"total"`
			Issues     []jiraIssue `json:"issues"`
		}
		if _, err := j.c.do(ctx, http.MethodGet, j.cfg.BaseURL+"/rest/api/2/search?"+q.Encode(), nil, &page); err != nil {
			return nil, fmt.Errorf("jira: searching for %s: %w", marker, err)
		}
		for i := range page.Issues {
			is := page.Issues[i]
			if best == nil || issueID(is.ID) < issueID(best.ID) {
				best = &is
			}
		}
		start = page.StartAt + len(page.Issues)
		if len(page.Issues) == 0 || start >= page.Total {
			break
		}
	}
	if best == nil {
		return nil, nil
	}
	t := j.ticket(best.Key, best.Fields.Status.StatusCategory.Key == "done")
	return &t, nil
}

func issueID(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 1<<63 - 1
	}
	return n
}

func (j *jira) create(ctx context.Context, marker string, is issue) (Ticket, error) {
	body := map[string]any{"fields": map[string]any{
		"project":     map[string]string{"key": j.cfg.Project},
		"issuetype":   map[string]string{"name": j.cfg.IssueType},
		"summary":     is.title,
		"description": is.body,
		"labels":      append([]string{marker, "aspm"}, j.cfg.Labels...),
	}}
	var out struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if _, err := j.c.do(ctx, http.MethodPost, j.cfg.BaseURL+"/rest/api/2/issue", body, &out); err != nil {
		return Ticket{}, fmt.Errorf("jira: creating issue: %w", err)
	}
	if out.Key == "" {
		return Ticket{}, fmt.Errorf("jira: creating issue: the answer has no key")
	}
	return j.ticket(out.Key, false), nil
}

func (j *jira) comment(ctx context.Context, t Ticket, text string) error {
	u := j.cfg.BaseURL + "/rest/api/2/issue/" + url.PathEscape(t.Key) + "/comment"
	if _, err := j.c.do(ctx, http.MethodPost, u, map[string]string{"body": text}, nil); err != nil {
		return fmt.Errorf("jira: commenting on %s: %w", t.Key, err)
	}
	return nil
}

func (j *jira) close(ctx context.Context, t Ticket) error {
	return j.transition(ctx, t, j.cfg.DoneTransition, true)
}

func (j *jira) reopen(ctx context.Context, t Ticket) error {
	return j.transition(ctx, t, j.cfg.ReopenTransition, false)
}

// done reports whether the issue's status is in the done category.
func (j *jira) done(ctx context.Context, key string) (bool, error) {
	var is jiraIssue
	u := j.cfg.BaseURL + "/rest/api/2/issue/" + url.PathEscape(key) + "?fields=status"
	if _, err := j.c.do(ctx, http.MethodGet, u, nil, &is); err != nil {
		return false, fmt.Errorf("jira: reading %s: %w", key, err)
	}
	return is.Fields.Status.StatusCategory.Key == "done", nil
}

// transition moves the issue through the transition called name, which leads to a done
// status when toDone. When the issue has no such transition but already is where it would
// lead (a retry after the transition was made), it succeeds.
func (j *jira) transition(ctx context.Context, t Ticket, name string, toDone bool) error {
	u := j.cfg.BaseURL + "/rest/api/2/issue/" + url.PathEscape(t.Key) + "/transitions"
	var list struct {
		Transitions []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"transitions"`
	}
	if _, err := j.c.do(ctx, http.MethodGet, u, nil, &list); err != nil {
		return fmt.Errorf("jira: listing transitions of %s: %w", t.Key, err)
	}
	var names []string
	for _, tr := range list.Transitions {
		if strings.EqualFold(tr.Name, name) {
			body := map[string]any{"transition": map[string]string{"id": tr.ID}}
			if _, err := j.c.do(ctx, http.MethodPost, u, body, nil); err != nil {
				return fmt.Errorf("jira: transitioning %s through %q: %w", t.Key, name, err)
			}
			return nil
		}
		names = append(names, tr.Name)
	}
	if done, err := j.done(ctx, t.Key); err != nil {
		return err
	} else if done == toDone {
		return nil
	}
	return fmt.Errorf("jira: %s has no transition %q now (it has %s)", t.Key, name, strings.Join(names, ", "))
}
