// Package dashboard serves the built-in web dashboard: a single-page app of four embedded files
// (static/index.html, app.js, app.css and favicon.svg: vanilla JavaScript, hand-written SVG
// charts, no third-party code) that holds no data. The page asks /v1 for everything with the
// user's bearer token, which it takes from the URL fragment (#token=…, then removed from the
// address bar and kept in the browser's local storage) or from a form, so serving it needs
// neither a token nor a store. It loads nothing from other hosts and works offline.
//
// Every answer carries a strict Content-Security-Policy (scripts, styles and connections from
// this origin only, no inline script or style, Trusted Types on so that no HTML string reaches
// the DOM, no framing), X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

//go:embed static
var static embed.FS

// CSP is the Content-Security-Policy of every answer of the dashboard.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// asset is one embedded file, ready to serve.
type asset struct {
	name  string
	body  []byte
	ctype string
	etag  string
}

// assets are the embedded files by URL path: the page at "/", the rest under "/assets/".
var assets = mustLoad()

func mustLoad() map[string]asset {
	m := map[string]asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		name := path.Base(p)
		sum := sha256.Sum256(body)
		a := asset{name: name, body: body, ctype: mime.TypeByExtension(path.Ext(name)),
			etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		if a.ctype == "" {
			a.ctype = "application/octet-stream"
		}
		if name == "index.html" {
			m["/"] = a
		} else {
			m["/assets/"+name] = a
		}
		return nil
	})
	if err != nil {
		panic("dashboard: reading embedded assets: " + err.Error()) // the build embeds them
	}
	return m
}

// Register adds the dashboard's routes to mux: the page at / and its files under /assets/.
// They need no token: they hold no data.
func Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", serve)
	mux.HandleFunc("GET /assets/", serve)
}

// setSecurityHeaders sets the headers every answer of the dashboard carries.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// serve answers with the asset at the request's path, revalidated by its ETag on every use (the
// files are small and their names carry no version).
func serve(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	a, ok := assets[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.ctype)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", a.etag)
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}
