package notifytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// JiraIssue is an issue in the fake Jira.
type JiraIssue struct {
	ID          string
	Key         string
	Project     string
	IssueType   string
	Summary     string
	Description string
	Labels      []string
	// Status is "To Do", "In Progress" or "Done".
	Status   string
	Comments []string
	// Transitions lists the names of the transitions made, in order.
	Transitions []string
}

// Jira is a fake Jira Cloud site serving the REST API v2 subset the notifier uses: issue
// search by JQL (project and labels clauses) with startAt/maxResults pagination, issue
// creation, reading, comments and workflow transitions (To Do → In Progress → Done, Done →
// Reopen → To Do). Requests must carry the Authorization header it was made with.
type Jira struct {
	faults
	// URL is the site's base URL.
	URL string
	// PageSize caps maxResults of a search (Jira Cloud caps it too); default 50.
	PageSize int

	auth    string
	project string
	mu      sync.Mutex
	issues  []*JiraIssue
}

// NewJira starts a fake Jira with one project whose requests must carry the Authorization
// header value auth; it stops when the test ends.
func NewJira(tb testing.TB, project, auth string) *Jira {
	tb.Helper()
	j := &Jira{project: project, auth: auth, PageSize: 50}
	srv := httptest.NewServer(http.HandlerFunc(j.serveHTTP))
	tb.Cleanup(srv.Close)
	j.URL = srv.URL
	return j
}

// Issues returns copies of the issues, in creation order.
func (j *Jira) Issues() []JiraIssue {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]JiraIssue, 0, len(j.issues))
	for _, is := range j.issues {
		c := *is
		c.Labels, c.Comments, c.Transitions = slices.Clone(is.Labels), slices.Clone(is.Comments), slices.Clone(is.Transitions)
		out = append(out, c)
	}
	return out
}

// Seed adds an issue with labels, as if someone had filed it; it returns its key.
func (j *Jira) Seed(summary string, labels ...string) string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.add(&JiraIssue{Project: j.project, IssueType: "Task", Summary: summary, Labels: labels}).Key
}

func (j *Jira) add(is *JiraIssue) *JiraIssue {
	n := len(j.issues) + 1
	is.ID, is.Key, is.Status = strconv.Itoa(10000+n), fmt.Sprintf("%s-%d", j.project, n), "To Do"
	j.issues = append(j.issues, is)
	return is
}

func jiraError(status int) string {
	msg := map[int]string{
		http.StatusBadRequest:          "Bad request.",
		http.StatusUnauthorized:        "You are not authorized to perform this operation.",
		http.StatusForbidden:           "You do not have permission to perform this operation.",
		http.StatusNotFound:            "Issue does not exist or you do not have permission to see it.",
		http.StatusTooManyRequests:     "Rate limit exceeded.",
		http.StatusInternalServerError: "Internal server error",
		http.StatusServiceUnavailable:  "Service unavailable",
	}[status]
	b, _ := json.Marshal(map[string]any{"errorMessages": []string{msg}, "errors": map[string]string{}})
	return string(b)
}

func writeJiraError(w http.ResponseWriter, status int, messages []string, fields map[string]string) {
	if messages == nil {
		messages = []string{}
	}
	if fields == nil {
		fields = map[string]string{}
	}
	writeJSON(w, status, map[string]any{"errorMessages": messages, "errors": fields})
}

var (
	jqlProject = regexp.MustCompile(`project\s*=\s*"?([A-Za-z0-9_-]+)"?`)
	jqlLabels  = regexp.MustCompile(`labels\s*=\s*"([^"]+)"`)
	issuePath  = regexp.MustCompile(`^/rest/api/2/issue/([A-Z][A-Z0-9_]*-[0-9]+)(/comment|/transitions)?$`)
)

// transitions are the fake workflow's: from a status, the transitions available.
var transitions = map[string][]struct{ id, name, to string }{
	"To Do":       {{"11", "Start Progress", "In Progress"}, {"31", "Done", "Done"}},
	"In Progress": {{"21", "Stop Progress", "To Do"}, {"31", "Done", "Done"}},
	"Done":        {{"41", "Reopen", "To Do"}},
}

func category(status string) map[string]any {
	key, name := "new", "To Do"
	switch status {
	case "In Progress":
		key, name = "indeterminate", "In Progress"
	case "Done":
		key, name = "done", "Done"
	}
	return map[string]any{"key": key, "name": name}
}

func (j *Jira) view(is *JiraIssue) map[string]any {
	return map[string]any{"id": is.ID, "key": is.Key, "self": j.URL + "/rest/api/2/issue/" + is.ID,
		"fields": map[string]any{"status": map[string]any{"name": is.Status, "statusCategory": category(is.Status)},
			"summary": is.Summary, "labels": is.Labels}}
}

func (j *Jira) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	j.serve(w, r, body, jiraError, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != j.auth {
			w.Header().Set("WWW-Authenticate", `OAuth realm="https://jira.example"`)
			writeJiraError(w, http.StatusUnauthorized, []string{"You are not authenticated. Authentication required to perform this operation."}, nil)
			return
		}
		j.mu.Lock()
		defer j.mu.Unlock()
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/rest/api/2/search":
			j.search(w, r)
		case r.Method == http.MethodPost && r.URL.Path == "/rest/api/2/issue":
			j.create(w, body)
		default:
			m := issuePath.FindStringSubmatch(r.URL.Path)
			if m == nil {
				writeJiraError(w, http.StatusNotFound, []string{"null for uri: " + r.URL.String()}, nil)
				return
			}
			is := j.byKey(m[1])
			if is == nil {
				writeJiraError(w, http.StatusNotFound, []string{"Issue does not exist or you do not have permission to see it."}, nil)
				return
			}
			switch {
			case m[2] == "" && r.Method == http.MethodGet:
				writeJSON(w, http.StatusOK, j.view(is))
			case m[2] == "/comment" && r.Method == http.MethodPost:
				var c struct {
					Body string `json:"body"`
				}
				if json.Unmarshal(body, &c) != nil || c.Body == "" {
					writeJiraError(w, http.StatusBadRequest, nil, map[string]string{"comment": "Comment body can not be empty!"})
					return
				}
				is.Comments = append(is.Comments, c.Body)
				writeJSON(w, http.StatusCreated, map[string]any{"id": strconv.Itoa(len(is.Comments)), "body": c.Body,
					"created": time.Now().UTC().Format("2006-01-02T15:04:05.000-0700")})
			case m[2] == "/transitions" && r.Method == http.MethodGet:
				var list []map[string]any
				for _, t := range transitions[is.Status] {
					list = append(list, map[string]any{"id": t.id, "name": t.name,
						"to": map[string]any{"name": t.to, "statusCategory": category(t.to)}})
				}
				writeJSON(w, http.StatusOK, map[string]any{"expand": "transitions", "transitions": list})
			case m[2] == "/transitions" && r.Method == http.MethodPost:
				var t struct {
					Transition struct {
						ID string `json:"id"`
					} `json:"transition"`
				}
				_ = json.Unmarshal(body, &t)
				for _, tr := range transitions[is.Status] {
					if tr.id == t.Transition.ID {
						is.Status = tr.to
						is.Transitions = append(is.Transitions, tr.name)
						w.WriteHeader(http.StatusNoContent)
						return
					}
				}
				writeJiraError(w, http.StatusBadRequest, []string{fmt.Sprintf("Transition id '%s' is not valid for this issue.", t.Transition.ID)}, nil)
			default:
				w.WriteHeader(http.StatusMethodNotAllowed)
			}
		}
	})
}

func (j *Jira) byKey(key string) *JiraIssue {
	for _, is := range j.issues {
		if is.Key == key {
			return is
		}
	}
	return nil
}

func (j *Jira) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	jql := q.Get("jql")
	pm, lm := jqlProject.FindStringSubmatch(jql), jqlLabels.FindStringSubmatch(jql)
	if pm == nil && lm == nil {
		writeJiraError(w, http.StatusBadRequest, []string{"Error in the JQL Query: the fake understands project = and labels = clauses only."}, nil)
		return
	}
	if pm != nil && pm[1] != j.project {
		writeJiraError(w, http.StatusBadRequest, []string{fmt.Sprintf("The value '%s' does not exist for the field 'project'.", pm[1])}, nil)
		return
	}
	start, max := 0, 50
	if s := q.Get("startAt"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeJiraError(w, http.StatusBadRequest, []string{"startAt must be a non-negative number"}, nil)
			return
		}
		start = n
	}
	if s := q.Get("maxResults"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			max = n
		}
	}
	max = min(max, j.PageSize)
	var hits []*JiraIssue
	for _, is := range j.issues {
		if lm == nil || slices.Contains(is.Labels, lm[1]) {
			hits = append(hits, is)
		}
	}
	issues := []map[string]any{}
	for i := start; i < len(hits) && i < start+max; i++ {
		issues = append(issues, j.view(hits[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"expand": "schema,names", "startAt": start, "maxResults": max,
		"total": len(hits), "issues": issues})
}

func (j *Jira) create(w http.ResponseWriter, body []byte) {
	var req struct {
		Fields struct {
			Project struct {
				Key string `json:"key"`
			} `json:"project"`
			IssueType struct {
				Name string `json:"name"`
			} `json:"issuetype"`
			Summary     string   `json:"summary"`
			Description string   `json:"description"`
			Labels      []string `json:"labels"`
		} `json:"fields"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeJiraError(w, http.StatusBadRequest, []string{"Unexpected character: " + err.Error()}, nil)
		return
	}
	f := req.Fields
	errs := map[string]string{}
	if f.Project.Key != j.project {
		errs["project"] = "valid project is required"
	}
	if f.IssueType.Name == "" {
		errs["issuetype"] = "valid issue type is required"
	}
	if f.Summary == "" {
		errs["summary"] = "You must specify a summary of the issue."
	} else if len(f.Summary) > 255 {
		errs["summary"] = "Summary must be less than 255 characters."
	}
	for _, l := range f.Labels {
		if strings.ContainsAny(l, " \t") {
			errs["labels"] = "The label '" + l + "' contains spaces which is invalid."
		}
	}
	if len(errs) > 0 {
		writeJiraError(w, http.StatusBadRequest, nil, errs)
		return
	}
	is := j.add(&JiraIssue{Project: f.Project.Key, IssueType: f.IssueType.Name, Summary: f.Summary, Description: f.Description, Labels: f.Labels})
	writeJSON(w, http.StatusCreated, map[string]any{"id": is.ID, "key": is.Key, "self": j.URL + "/rest/api/2/issue/" + is.ID})
}
