package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Sink kinds.
const (
	KindWebhook = "webhook"
	KindJira    = "jira"
	KindGitHub  = "github"
)

// Grouping rules: which gaps share one ticket.
const (
	// GroupFingerprint gives every gap (artifact, environment, code) its own ticket.
	GroupFingerprint = "fingerprint"
	// GroupWorkload gives one ticket to all the gaps of an artifact in an environment.
	GroupWorkload = "workload"
	// GroupTeamCode gives one ticket to all the gaps of one code in a team's environment.
	GroupTeamCode = "team-code"
)

// ErrConfig marks an unusable notifier configuration.
var ErrConfig = errors.New("notify: invalid configuration")

// Duration is a time.Duration written as a Go duration string ("30s") in the file.
type Duration time.Duration

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Config is the notifier's configuration file. Secrets are never in it: sinks name the
// environment variables (or files) that hold them.
type Config struct {
	Sinks []SinkConfig `json:"sinks"`
	// MaxAttempts is how many deliveries of an event a sink may fail before the event is
	// dead-lettered for it; default 5.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// MinBackoff and MaxBackoff bound the redelivery delay, which doubles with each attempt
	// (a Retry-After or rate-limit reset from the remote end lengthens it); default 1s and 5m.
	MinBackoff Duration `json:"min_backoff,omitempty"`
	MaxBackoff Duration `json:"max_backoff,omitempty"`
	// RequestTimeout bounds each HTTP request to a sink; default 20s.
	RequestTimeout Duration `json:"request_timeout,omitempty"`
}

// SinkConfig is one destination of notifications.
type SinkConfig struct {
	// Name identifies the sink in state, dead letters and tickets; letters, digits, '-' and '_'.
	Name string `json:"name"`
	// Kind is webhook, jira or github.
	Kind string `json:"kind"`
	// Filter chooses the gaps the sink hears about.
	Filter Filter `json:"filter,omitempty"`
	// Group is the grouping rule of ticket sinks: fingerprint (default), workload or team-code.
	Group string `json:"group,omitempty"`

	Webhook *WebhookConfig `json:"webhook,omitempty"`
	Jira    *JiraConfig    `json:"jira,omitempty"`
	GitHub  *GitHubConfig  `json:"github,omitempty"`
}

// Filter narrows the gaps a sink is told about; empty fields match everything.
type Filter struct {
	Environments []string `json:"environments,omitempty"`
	// MinSeverity is low, medium, high or critical.
	MinSeverity string   `json:"min_severity,omitempty"`
	Codes       []string `json:"codes,omitempty"`
	Orgs        []string `json:"orgs,omitempty"`
}

// WebhookConfig configures a generic signed JSON webhook.
type WebhookConfig struct {
	URL string `json:"url"`
	// SecretEnv or SecretFile names where the HMAC secret is; one is required.
	SecretEnv  string `json:"secret_env,omitempty"`
	SecretFile string `json:"secret_file,omitempty"`
}

// JiraConfig configures Jira (Cloud or Data Center) through REST API v2.
type JiraConfig struct {
	// BaseURL is the site, e.g. https://acme.atlassian.net.
	BaseURL   string `json:"base_url"`
	Project   string `json:"project"`
	IssueType string `json:"issue_type,omitempty"` // default "Bug"
	// DoneTransition is the name of the transition that resolves an issue; default "Done".
	DoneTransition string `json:"done_transition,omitempty"`
	// ReopenTransition is the name of the transition that reopens one; default "Reopen".
	ReopenTransition string   `json:"reopen_transition,omitempty"`
	Labels           []string `json:"labels,omitempty"`
	// UserEnv names the variable holding the account e-mail (Cloud: basic auth with an API
	// token); without it the token is sent as a bearer token (Data Center personal token).
	UserEnv  string `json:"user_env,omitempty"`
	TokenEnv string `json:"token_env"`
}

// GitHubConfig configures GitHub Issues through the REST API.
type GitHubConfig struct {
	// APIURL is the REST API root; default https://api.github.com.
	APIURL   string   `json:"api_url,omitempty"`
	Owner    string   `json:"owner"`
	Repo     string   `json:"repo"`
	Labels   []string `json:"labels,omitempty"`
	TokenEnv string   `json:"token_env"`
}

var sinkName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// severityRank orders the catalogue's severities.
var severityRank = map[string]int{"low": 1, "medium": 2, "high": 3, "critical": 4}

// LoadConfig reads and validates the YAML (or JSON) file at path. Unknown fields are errors.
func LoadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("reading notifier configuration: %w", err)
	}
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return c, fmt.Errorf("%w: parsing %s: %w", ErrConfig, path, err)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Validate fills in defaults and reports, wrapping ErrConfig, what makes c unusable.
func (c *Config) Validate() error {
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = Duration(time.Second)
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = Duration(5 * time.Minute)
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = Duration(20 * time.Second)
	}
	if c.MaxAttempts < 1 || c.MinBackoff < 0 || c.MaxBackoff < c.MinBackoff || c.RequestTimeout < 0 {
		return fmt.Errorf("%w: max_attempts must be at least 1 and 0 <= min_backoff <= max_backoff", ErrConfig)
	}
	if len(c.Sinks) == 0 {
		return fmt.Errorf("%w: no sinks", ErrConfig)
	}
	seen := map[string]bool{}
	for i := range c.Sinks {
		s := &c.Sinks[i]
		if err := s.validate(); err != nil {
			return fmt.Errorf("%w: sink %d (%s): %w", ErrConfig, i, s.Name, err)
		}
		if seen[s.Name] {
			return fmt.Errorf("%w: sink name %q used twice", ErrConfig, s.Name)
		}
		seen[s.Name] = true
	}
	return nil
}

func (s *SinkConfig) validate() error {
	if !sinkName.MatchString(s.Name) {
		return errors.New("name: want 1 to 64 letters, digits, '-' or '_'")
	}
	if s.Filter.MinSeverity != "" && severityRank[s.Filter.MinSeverity] == 0 {
		return fmt.Errorf("filter.min_severity %q: want low, medium, high or critical", s.Filter.MinSeverity)
	}
	if s.Group == "" {
		s.Group = GroupFingerprint
	}
	if !slices.Contains([]string{GroupFingerprint, GroupWorkload, GroupTeamCode}, s.Group) {
		return fmt.Errorf("group %q: want fingerprint, workload or team-code", s.Group)
	}
	set := 0
	for _, p := range []bool{s.Webhook != nil, s.Jira != nil, s.GitHub != nil} {
		if p {
			set++
		}
	}
	if set != 1 {
		return errors.New("want exactly one of webhook, jira and github")
	}
	switch s.Kind {
	case KindWebhook:
		if s.Webhook == nil {
			return errors.New("kind webhook needs a webhook section")
		}
		if err := checkURL(s.Webhook.URL); err != nil {
			return fmt.Errorf("webhook.url: %w", err)
		}
		if (s.Webhook.SecretEnv == "") == (s.Webhook.SecretFile == "") {
			return errors.New("webhook: want one of secret_env and secret_file")
		}
	case KindJira:
		j := s.Jira
		if j == nil {
			return errors.New("kind jira needs a jira section")
		}
		if err := checkURL(j.BaseURL); err != nil {
			return fmt.Errorf("jira.base_url: %w", err)
		}
		j.BaseURL = strings.TrimRight(j.BaseURL, "/")
		if j.Project == "" || j.TokenEnv == "" {
			return errors.New("jira: project and token_env are required")
		}
		if j.IssueType == "" {
			j.IssueType = "Bug"
		}
		if j.DoneTransition == "" {
			j.DoneTransition = "Done"
		}
		if j.ReopenTransition == "" {
			j.ReopenTransition = "Reopen"
		}
	case KindGitHub:
		g := s.GitHub
		if g == nil {
			return errors.New("kind github needs a github section")
		}
		if g.APIURL == "" {
			g.APIURL = "https://api.github.com"
		}
		if err := checkURL(g.APIURL); err != nil {
			return fmt.Errorf("github.api_url: %w", err)
		}
		g.APIURL = strings.TrimRight(g.APIURL, "/")
		if g.Owner == "" || g.Repo == "" || g.TokenEnv == "" {
			return errors.New("github: owner, repo and token_env are required")
		}
	default:
		return fmt.Errorf("kind %q: want webhook, jira or github", s.Kind)
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q: want an http(s) URL", s)
	}
	return nil
}

// secret is a credential; it redacts itself in logs.
type secret string

// LogValue hides the secret.
func (secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// readSecret returns the value of the variable env or the trimmed content of file.
func readSecret(env, file string) (secret, error) {
	if env != "" {
		v := os.Getenv(env)
		if v == "" {
			return "", fmt.Errorf("%w: environment variable %s is empty or unset", ErrConfig, env)
		}
		return secret(v), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%w: reading secret file: %w", ErrConfig, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%w: secret file %s is empty", ErrConfig, file)
	}
	return secret(v), nil
}

// matches reports whether the sink's filter lets g through.
func (f Filter) matches(g Gap) bool {
	if len(f.Environments) > 0 && !slices.Contains(f.Environments, g.Environment) {
		return false
	}
	if len(f.Orgs) > 0 && !slices.Contains(f.Orgs, g.Org) {
		return false
	}
	if len(f.Codes) > 0 && !slices.Contains(f.Codes, g.Code) {
		return false
	}
	if f.MinSeverity != "" && severityRank[g.Severity] < severityRank[f.MinSeverity] {
		return false
	}
	return true
}
