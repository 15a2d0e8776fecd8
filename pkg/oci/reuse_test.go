package oci_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
)

// countingRegistry is a plain-HTTP registry that counts the TLS handshakes clients attempt
// on it and the pings (GET /v2/) they send.
type countingRegistry struct {
	host       string
	handshakes atomic.Int32
	pings      atomic.Int32
}

func startCountingRegistry(t *testing.T) *countingRegistry {
	t.Helper()
	r := &countingRegistry{}
	h := oci.NewRegistryHandler()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v2/" {
			r.pings.Add(1)
		}
		h.ServeHTTP(w, req)
	}))
	srv.Listener = tlsCountingListener{Listener: srv.Listener, n: &r.handshakes}
	srv.Start()
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

type tlsCountingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l tlsCountingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tlsCountingConn{Conn: c, n: l.n}, nil
}

type tlsCountingConn struct {
	net.Conn
	once sync.Once
	n    *atomic.Int32
}

// Read counts a connection whose first byte opens a TLS record of type handshake.
func (c *tlsCountingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.once.Do(func() {
			if p[0] == 0x16 {
				c.n.Add(1)
			}
		})
	}
	return n, err
}

// TestInsecureRegistryPingedOverTLSOnce checks that a registry marked insecure that speaks
// plain HTTP costs one TLS handshake attempt, not one per repository and call:
// go-containerregistry pings every repository over HTTPS and HTTP at once.
func TestInsecureRegistryPingedOverTLSOnce(t *testing.T) {
	ctx := context.Background()
	reg := startCountingRegistry(t)
	pusher, err := oci.New(oci.Config{Insecure: []string{reg.host}})
	if err != nil {
		t.Fatal(err)
	}
	var refs []evidence.ImageRef
	for i := range 8 {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := pusher.PushImage(ctx, fmt.Sprintf("%s/team/app%d", reg.host, i), "v1", img)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pusher.Attach(ctx, ref, "application/vnd.cyclonedx+json", "application/vnd.cyclonedx+json", []byte(`{}`), nil); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	if n := reg.handshakes.Load(); n > 1 {
		t.Errorf("pushing to 8 repositories attempted %d TLS handshakes, want at most 1", n)
	}

	c, err := oci.New(oci.Config{Insecure: []string{reg.host}})
	if err != nil {
		t.Fatal(err)
	}
	reg.handshakes.Store(0)
	reg.pings.Store(0)
	for range 3 {
		for _, ref := range refs {
			disc, err := c.Discover(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if len(disc.Attachments) != 1 || len(disc.Problems) != 0 {
				t.Fatalf("discovering %s: %d attachments, problems %q; want the one SBOM", ref, len(disc.Attachments), disc.Problems)
			}
		}
	}
	if n := reg.handshakes.Load(); n > 1 {
		t.Errorf("24 discoveries attempted %d TLS handshakes, want at most 1", n)
	}
	// One ping per repository for go-containerregistry's calls and one for the referrers API,
	// however many times each repository is asked.
	if n := reg.pings.Load(); n > 2*int32(len(refs)) {
		t.Errorf("24 discoveries in %d repositories pinged the registry %d times, want at most %d", len(refs), n, 2*len(refs))
	}
}
