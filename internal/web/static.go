package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var staticFS embed.FS

// assets are the embedded static files, each also reachable at a URL that
// contains a hash of its content (app.css → /static/app.3f2a1b9c.css). Pages
// link the hashed URLs, which may be cached forever: a deploy that changes
// a file changes its URL, so browsers never run stale CSS or JS.
type assets struct {
	byName map[string]*asset // "app.css", "vendor/htmx.min.js"
	byPath map[string]*asset // "app.3f2a1b9c.css"
}

type asset struct {
	name   string
	hashed string
	etag   string
	data   []byte
}

func loadAssets() (*assets, error) {
	a := &assets{byName: map[string]*asset{}, byPath: map[string]*asset{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		if path.Base(name) == "VERSIONS" {
			return nil // provenance of vendored files, not served
		}
		data, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		short := hex.EncodeToString(sum[:])[:12]
		ext := path.Ext(name)
		f := &asset{
			name:   name,
			hashed: strings.TrimSuffix(name, ext) + "." + short + ext,
			etag:   `"` + short + `"`,
			data:   data,
		}
		a.byName[name] = f
		a.byPath[f.hashed] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: load static files: %w", err)
	}
	return a, nil
}

// url returns the hashed URL of a static file. Templates call it with
// literal names, so an unknown name is a programming error that the page
// tests catch; it still yields a URL that 404s rather than a panic.
func (a *assets) url(name string) string {
	if f, ok := a.byName[name]; ok {
		return "/static/" + f.hashed
	}
	return "/static/" + name
}

// serveStatic serves GET /static/{path...}. Hashed names are immutable;
// plain names are served too (bookmarks, old pages) but must revalidate.
func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) error {
	p := r.PathValue("path")
	f, ok := h.static.byPath[p]
	cache := "public, max-age=31536000, immutable"
	if !ok {
		if f, ok = h.static.byName[p]; !ok {
			http.Error(w, "404 page not found", http.StatusNotFound)
			return nil
		}
		cache = "no-cache"
	}
	hd := w.Header()
	hd.Set("Cache-Control", cache)
	hd.Set("ETag", f.etag)
	// ServeContent answers If-None-Match, Range and HEAD and sets the
	// Content-Type from the extension.
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.data))
	return nil
}
