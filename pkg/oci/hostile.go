package oci

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ErrRedirectRefused is returned when a registry redirects a request to a host other than the
// one asked, and the configuration does not allow that host (Config.AllowRedirects).
var ErrRedirectRefused = errors.New("redirect to another host refused")

// MaxIndexManifests bounds the manifests an image index may list: each platform manifest is
// searched for attachments, so a huge index would turn one artifact into a flood of requests.
const MaxIndexManifests = 256

// origin returns the request a chain of redirects started from (req itself when it was not
// redirected).
func origin(req *http.Request) *http.Request {
	for req.Response != nil && req.Response.Request != nil {
		req = req.Response.Request
	}
	return req
}

// checkRedirect refuses a redirected request to a host other than the one first asked unless
// the host matches one of the allowed patterns: a hostile registry must not make the
// collector fetch from (and trust the size and timing of) wherever it points.
func (g *guard) checkRedirect(req *http.Request) error {
	first := origin(req)
	if first == req || first.URL.Host == req.URL.Host {
		return nil
	}
	if len(g.redirects) > 0 && Match(g.redirects, req.URL.Host) {
		return nil
	}
	return fmt.Errorf("%w: %s redirected to %s (allow it with oci.Config.AllowRedirects)", ErrRedirectRefused, first.URL.Host, req.URL.Host)
}

// bodyLimit is the most a response to req may carry: MaxBlobSize for blobs, MaxManifestSize
// for everything else (manifests, indexes, tag lists, the catalog, tokens, errors).
func (g *guard) bodyLimit(req *http.Request) int64 {
	if strings.Contains(origin(req).URL.Path, "/blobs/") {
		return g.maxBlob
	}
	return MaxManifestSize
}

// limitedBody fails a read with ErrTooLarge once more than limit bytes have been read, or at
// once when the announced Content-Length is larger. The count is of the bytes the client
// sees, after the transport's transparent gzip decoding, so a compressed response that
// expands beyond the limit (a decompression bomb) is refused too.
type limitedBody struct {
	io.ReadCloser
	url   string
	n     int64
	limit int64
	err   error
}

func newLimitedBody(req *http.Request, resp *http.Response, limit int64) *limitedBody {
	b := &limitedBody{ReadCloser: resp.Body, url: req.URL.Redacted(), limit: limit}
	if resp.ContentLength > limit {
		b.err = fmt.Errorf("response from %s announces %d bytes, limit %d: %w", b.url, resp.ContentLength, limit, ErrTooLarge)
	}
	return b
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if rest := b.limit + 1 - b.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if b.n > b.limit {
		b.err = fmt.Errorf("response from %s: more than %d bytes: %w", b.url, b.limit, ErrTooLarge)
		return 0, b.err
	}
	return n, err
}

// refused reports whether err is the guard refusing a hostile answer: retrying will not help.
func refused(err error) bool {
	return errors.Is(err, ErrTooLarge) || errors.Is(err, ErrRedirectRefused)
}
