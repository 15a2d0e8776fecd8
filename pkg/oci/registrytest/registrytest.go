// Package registrytest gives tests a real registry process: Debian's docker-registry (the
// CNCF distribution server, 2.8), started per test on loopback with htpasswd basic auth and its
// storage in the test's temporary directory. It is what go-containerregistry's in-process
// registry cannot stand in for: a registry without the referrers API (so attachments go through
// the referrers tag schema and cosign's tags), with authentication, in another process.
//
// Without the binary the tests skip, except in CI (CI=true), where they fail;
// scripts/test.sh installs it.
package registrytest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"golang.org/x/crypto/bcrypt"
)

// DefaultBinary is where Debian's docker-registry package installs the server.
const DefaultBinary = "/usr/bin/docker-registry"

// Registry is a running docker-registry. Its fields are read-only.
type Registry struct {
	// Host is the registry's address, "127.0.0.1:<port>", as image references name it.
	Host string
	// Username and Password are the only credentials the registry accepts, random per
	// registry.
	Username string
	Password string
	// Dir is the registry's temporary directory: its configuration, htpasswd file, storage
	// (Dir/storage) and log (Dir/registry.log).
	Dir string
}

// Option configures Start.
type Option func(*options)

type options struct {
	binary       string
	startTimeout time.Duration
}

// WithBinary runs the server binary at path instead of DefaultBinary.
func WithBinary(path string) Option { return func(o *options) { o.binary = path } }

// WithStartTimeout bounds how long Start waits for the server to answer; default 30s.
func WithStartTimeout(d time.Duration) Option { return func(o *options) { o.startTimeout = d } }

// Start runs a docker-registry for tb and stops it when tb ends; the server's log is printed
// when tb has failed. It skips tb when the binary is missing, or fails it under CI=true, and
// fails tb when the server does not start.
//
// The server binds 127.0.0.1:0 itself and Start reads the port from its "listening on" log
// line, so no port is probed and then handed over. (Distribution 2.8 cannot take an inherited
// listener: registry.ListenAndServe always calls listener.NewListener(http.net, http.addr),
// and it has no socket activation, but it logs ln.Addr(), the port the kernel chose.)
func Start(tb testing.TB, opts ...Option) *Registry {
	tb.Helper()
	o := options{binary: DefaultBinary, startTimeout: 30 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if _, err := os.Stat(o.binary); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("docker-registry: %v; scripts/test.sh installs it (apt-get install docker-registry)", err)
		}
		tb.Skipf("docker-registry not installed (%v); install it with `sudo apt-get install docker-registry` or run scripts/test.sh", err)
	}

	r := &Registry{Dir: tb.TempDir(), Username: "user-" + randomHex(4), Password: randomHex(16)}
	cfgPath, err := r.writeConfig()
	if err != nil {
		tb.Fatalf("docker-registry: %v", err)
	}
	logFile, err := os.Create(r.logPath())
	if err != nil {
		tb.Fatalf("docker-registry: creating log: %v", err)
	}

	cmd := exec.Command(o.binary, "serve", cfgPath)
	// A clean environment: REGISTRY_* variables would override the configuration.
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + r.Dir}
	cmd.Dir = r.Dir
	cmd.Stdout = logFile // the access log
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatalf("docker-registry: %v", err)
	}
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		tb.Fatalf("docker-registry: starting %s: %v", o.binary, err)
	}

	listening := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		scanLog(stderr, logFile, listening)
	}()
	exited := make(chan error, 1)
	go func() {
		<-copied // Wait must not close the pipe before the log is read.
		exited <- cmd.Wait()
	}()
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			logFile.Close()
		})
	}
	tb.Cleanup(func() {
		stop()
		if tb.Failed() {
			tb.Logf("docker-registry log (%s):\n%s", r.logPath(), r.LogTail(30))
		}
	})

	select {
	case addr := <-listening:
		r.Host = addr
	case err := <-exited:
		exited <- err // put back for stop
		// The cleanup prints the log.
		tb.Fatalf("docker-registry exited before listening: %v", err)
	case <-time.After(o.startTimeout):
		tb.Fatalf("docker-registry did not listen within %s", o.startTimeout)
	}
	if err := r.waitReady(tb.Context(), o.startTimeout); err != nil {
		tb.Fatalf("docker-registry at %s: %v", r.Host, err)
	}
	return r
}

// Repo returns the name of repository path on the registry: Host + "/" + path.
func (r *Registry) Repo(path string) string { return r.Host + "/" + path }

// Keychain returns a keychain that answers the registry's credentials for Host and
// anonymous access for every other registry.
func (r *Registry) Keychain() authn.Keychain { return keychain{r} }

type keychain struct{ r *Registry }

// Resolve implements authn.Keychain.
func (k keychain) Resolve(res authn.Resource) (authn.Authenticator, error) {
	if res.RegistryStr() != k.r.Host {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: k.r.Username, Password: k.r.Password}), nil
}

// LogTail returns the last n lines of the server's log (logrus JSON lines and the access log).
func (r *Registry) LogTail(n int) string {
	b, err := os.ReadFile(r.logPath())
	if err != nil {
		return fmt.Sprintf("(reading log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (r *Registry) logPath() string { return filepath.Join(r.Dir, "registry.log") }

// writeConfig writes the htpasswd file and the server configuration, as JSON (which the
// server's YAML parser reads), and returns the configuration's path.
func (r *Registry) writeConfig() (string, error) {
	// The lowest bcrypt cost: the server checks the password on every request.
	hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
	if err != nil {
		return "", fmt.Errorf("hashing password: %w", err)
	}
	htpasswd := filepath.Join(r.Dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(r.Username+":"+string(hash)+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing htpasswd: %w", err)
	}
	cfg := map[string]any{
		"version": "0.1",
		"log":     map[string]any{"level": "info", "formatter": "json"},
		"storage": map[string]any{
			"filesystem":  map[string]any{"rootdirectory": filepath.Join(r.Dir, "storage")},
			"delete":      map[string]any{"enabled": true},
			"maintenance": map[string]any{"uploadpurging": map[string]any{"enabled": false}},
		},
		"http": map[string]any{
			"addr":   "127.0.0.1:0",
			"secret": randomHex(16),
		},
		"auth": map[string]any{"htpasswd": map[string]any{"realm": "registrytest", "path": htpasswd}},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encoding configuration: %w", err)
	}
	path := filepath.Join(r.Dir, "config.yml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", fmt.Errorf("writing configuration: %w", err)
	}
	return path, nil
}

// scanLog copies the server's log lines to w and sends the address of its "listening on"
// line to listening.
func scanLog(r io.Reader, w io.Writer, listening chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := false
	for sc.Scan() {
		line := sc.Bytes()
		_, _ = w.Write(append(line, '\n'))
		if found {
			continue
		}
		var entry struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal(line, &entry) != nil {
			continue
		}
		if addr, ok := strings.CutPrefix(entry.Msg, "listening on "); ok {
			if _, _, err := net.SplitHostPort(addr); err == nil {
				listening <- addr
				found = true
			}
		}
	}
	_, _ = io.Copy(w, r)
}

// waitReady waits until GET /v2/ answers 401 with a Basic challenge: the API is up and
// authentication is on.
func (r *Registry) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		status, challenge, err := probe(ctx, "http://"+r.Host+"/v2/")
		switch {
		case err != nil:
			last = err
		case status == http.StatusUnauthorized && strings.HasPrefix(challenge, "Basic "):
			return nil
		default:
			return fmt.Errorf("GET /v2/ answered %d (WWW-Authenticate %q), want 401 with a Basic challenge", status, challenge)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET /v2/ did not answer: %w", errors.Join(ctx.Err(), last))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func probe(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var _ authn.Keychain = keychain{}
