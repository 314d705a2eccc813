package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

// Templates every page shares; each other file in templates/ is one page.
var sharedTemplates = []string{"templates/layout.html", "templates/partials.html", "templates/scope.html", "templates/runform.html"}

// parsePages parses the shared templates once and then each page on its
// own copy of them, so every page can define its own "content".
func parsePages(funcs template.FuncMap) (map[string]*template.Template, error) {
	base, err := template.New("").Funcs(funcs).ParseFS(templateFS, sharedTemplates...)
	if err != nil {
		return nil, fmt.Errorf("web: parse layout: %w", err)
	}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: list templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, f := range files {
		if slices.Contains(sharedTemplates, f) {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", f, err)
		}
		pages[strings.TrimSuffix(path.Base(f), ".html")] = t
	}
	return pages, nil
}

func (h *Handler) funcs() template.FuncMap {
	return template.FuncMap{
		"static":      func(name string) string { return h.static.url(name) },
		"reltime":     relTime,
		"abstime":     absTime,
		"isotime":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"num":         num,
		"plural":      plural,
		"uptime":      uptime,
		"oslabel":     osLabel,
		"detail":      sortedDetail,
		"join":        strings.Join,
		"extra":       func(s []string) int { return len(s) - 1 },
		"percent":     percent,
		"load":        load,
		"watchdog":    watchdogOf,
		"bytes":       policy.HumanBytes,
		"num64":       func(n int64) string { return num(int(n)) },
		"duration":    durationMS,
		"statuslabel": statusLabel,
		"percent64": func(done, total int64) string {
			if total <= 0 {
				return ""
			}
			return strconv.FormatInt(min(100, done*100/total), 10) + " %"
		},
		"int64":       func(n uint64) int64 { return int64(min(n, 1<<62)) },
		"powerArgs":   func(prefix string, form postedForm) powerOptions { return powerOptions{Prefix: prefix, Form: form} },
		"actionArgs":  func(v view, r *actionResult) actionArgs { return actionArgs{View: v, Result: r} },
		"channelArgs": func(v view, f *releaseChannelForm) channelArgs { return channelArgs{View: v, Form: f} },
		"updateArgs": func(o *updateOptions, prefix string, rollback bool) updateArgs {
			return updateArgs{Opts: o, Prefix: prefix, Rollback: rollback}
		},
		"updatePanel": func(v view, o *updateOptions, target, back, what string) updatePanel {
			return updatePanel{View: v, Opts: o, Target: target, Back: back, What: what}
		},
	}
}

// updateArgs are the arguments of the update-options template.
type updateArgs struct {
	Opts     *updateOptions
	Prefix   string
	Rollback bool
}

// updatePanel are the arguments of the update-panel template.
type updatePanel struct {
	View               view
	Opts               *updateOptions
	Target, Back, What string
}

// channelArgs are the arguments of the release-channel template.
type channelArgs struct {
	View view
	Form *releaseChannelForm
}

// view is what every page template receives.
type view struct {
	Title string
	// Nav names the active top-level section: home, agents, alerts,
	// clients, audit.
	Nav     string
	User    *access.Principal
	CSRF    string
	Version string
	// Scripts shows the script pages in the nav (the server has the jobs
	// service).
	Scripts bool
	// OpenAlerts is the number of open (unacknowledged) alerts, for the nav.
	OpenAlerts int
	// Page is the page's own data.
	Page any
}

// Can reports whether the signed-in user may perform the action, for
// hiding forms they could not submit anyway.
func (v view) Can(action string) bool {
	return v.User != nil && access.Can(*v.User, access.Action(action))
}

// render executes a page's layout (or, when block is not empty, just that
// block for an htmx swap) into a buffer and writes it with status.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page, block string, v view) error {
	t, ok := h.pages[page]
	if !ok {
		return fmt.Errorf("render: no page template %q", page)
	}
	if p, ok := access.FromContext(r.Context()); ok {
		v.User = &p
	}
	v.CSRF = access.CSRFToken(w, r, h.cfg.TrustProxy)
	v.Version = h.cfg.Version
	v.Scripts = h.cfg.Jobs != nil
	if block == "" {
		block = "layout"
		if v.User != nil {
			v.OpenAlerts = h.navAlerts(r.Context())
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, block, v); err != nil {
		return fmt.Errorf("render %s/%s: %w", page, block, err)
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	// Pages show fleet data and, once, enrollment secrets: never cache.
	hd.Set("Cache-Control", "no-store")
	hd.Set("Vary", "HX-Request")
	w.WriteHeader(status)
	// A failed write means the browser went away; nobody is left to tell.
	_, _ = w.Write(buf.Bytes())
	return nil
}

// navAlerts counts the open alerts for the nav: those waiting for
// someone, not those already acknowledged. The count is an aside: a
// failure is logged and the page shown without it.
func (h *Handler) navAlerts(ctx context.Context) int {
	n, err := h.countOpen(ctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		h.log.Warn("count open alerts for the nav", "err", err)
	}
	return n
}

// isPartial reports whether htmx asked for a fragment. A history restore
// asks for the whole page even though it comes from htmx.
func isPartial(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-History-Restore-Request") != "true"
}

// statusError is a failure the web layer itself detects, with the status
// and message to show.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

var errCSRF = &statusError{http.StatusForbidden,
	"This form has expired or was sent from another site. Reload the page and try again."}

// problem is how an error appears to the user.
type problem struct {
	Status  int
	Message string
	// Field names the form field at fault, for 400s.
	Field string
}

// classify maps an error to a status and a message that is safe to show.
// It is the one place where errors become status codes.
func classify(err error) problem {
	var (
		se  *statusError
		inv *input.Error
		pol *manage.PolicyInvalidError
	)
	switch {
	case errors.As(err, &se):
		return problem{Status: se.status, Message: se.msg}
	case errors.As(err, &pol):
		// An assignment refused for what it would make of an effective
		// policy: say which field, where and why.
		return problem{Status: http.StatusBadRequest, Message: upperFirst(pol.Error()) + "."}
	case errors.As(err, &inv):
		return problem{Status: http.StatusBadRequest, Message: fieldLabel(inv.Field) + " " + inv.Message, Field: inv.Field}
	case errors.Is(err, access.ErrForbidden):
		return problem{Status: http.StatusForbidden, Message: "Your role does not allow this."}
	case errors.Is(err, store.ErrNotFound):
		return problem{Status: http.StatusNotFound, Message: "There is nothing here. It may have been deleted, or the link is wrong."}
	case errors.Is(err, store.ErrInUse):
		// Store errors read like `policy p-1 is assigned 2 times; unassign it first: still in use`.
		return problem{Status: http.StatusConflict, Message: upperFirst(strings.TrimSuffix(err.Error(), ": "+store.ErrInUse.Error())) + "."}
	case errors.Is(err, store.ErrConflict):
		// Store errors read like `client "Acme": already exists`.
		msg := strings.Replace(err.Error(), ": "+store.ErrConflict.Error(), " "+store.ErrConflict.Error(), 1)
		return problem{Status: http.StatusConflict, Message: upperFirst(msg) + "."}
	}
	return problem{Status: http.StatusInternalServerError, Message: "Something went wrong on the server. The error has been logged."}
}

// formProblem reports whether err is the user's to fix in the form (bad
// input or a name already taken), as opposed to a page-level failure.
func formProblem(err error) (problem, bool) {
	pr := classify(err)
	return pr, pr.Status == http.StatusBadRequest || pr.Status == http.StatusConflict
}

// fail renders the error page for err, logging server-side failures once.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	pr := classify(err)
	if pr.Status == http.StatusInternalServerError {
		switch {
		case errors.Is(err, context.Canceled):
			return // the browser left; nobody to answer
		case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() != nil:
			h.log.Warn("dashboard request timed out", "method", r.Method, "path", r.URL.Path, "err", err)
			pr = problem{Status: http.StatusServiceUnavailable, Message: "The server could not finish this in time. Try again in a moment."}
		default:
			h.log.Error("dashboard request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	if r.Header.Get("HX-Request") == "true" || r.Header.Get("Accept") == "application/json" {
		// htmx does not swap error responses, and the charts' fetch reads
		// JSON: a short text is enough.
		http.Error(w, pr.Message, pr.Status)
		return
	}
	v := view{Title: http.StatusText(pr.Status), Page: pr}
	if rerr := h.render(w, r, pr.Status, "error", "", v); rerr != nil {
		h.log.Error("render error page", "err", rerr)
		http.Error(w, pr.Message, pr.Status)
	}
}

func fieldLabel(field string) string {
	switch field {
	case "expires_in":
		return "Expiry"
	case "max_uses":
		return "Maximum uses"
	}
	return upperFirst(strings.ReplaceAll(field, "_", " "))
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// pageSize is the number of rows on a list page.
const pageSize = 50

// maxPage bounds the page parameter so offsets stay sane.
const maxPage = 1_000_000

// pageNumber reads the 1-based page parameter.
func pageNumber(q url.Values) int {
	n, err := strconv.Atoi(q.Get("page"))
	if err != nil || n < 1 {
		return 1
	}
	return min(n, maxPage)
}

// pager is the "showing 1–50 of 10,000" line with its links.
type pager struct {
	From, To, Total int
	Prev, Next      string
}

// newPager builds the pager of a list at path filtered by base.
func newPager(path string, base url.Values, page, shown, total int) pager {
	p := pager{Total: total}
	if shown > 0 {
		p.From = (page-1)*pageSize + 1
		p.To = p.From + shown - 1
	}
	link := func(n int) string {
		v := url.Values{}
		for k, vs := range base {
			v[k] = vs
		}
		if n > 1 {
			v.Set("page", strconv.Itoa(n))
		} else {
			v.Del("page")
		}
		if len(v) == 0 {
			return path
		}
		return path + "?" + v.Encode()
	}
	if page > 1 {
		p.Prev = link(page - 1)
	}
	if p.To < total && shown > 0 {
		p.Next = link(page + 1)
	}
	return p
}

// lastPage is the page holding the final row of total.
func lastPage(total int) int { return max(1, (total+pageSize-1)/pageSize) }

// relTime says how long ago t was, as people say it. app.js keeps the
// same wording up to date in the browser.
func relTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	case d < 30*24*time.Hour:
		return fmt.Sprintf("%d d ago", int(d/(24*time.Hour)))
	}
	return t.UTC().Format("2 Jan 2006")
}

func absTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// uptime says how long ago boot was, to the minute.
func uptime(boot time.Time) string {
	if boot.IsZero() {
		return "unknown"
	}
	d := time.Since(boot)
	days, hours, mins := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0:
		return fmt.Sprintf("%d d %d h", days, hours)
	case hours > 0:
		return fmt.Sprintf("%d h %d min", hours, mins)
	}
	return fmt.Sprintf("%d min", mins)
}

// num formats n with thousands separators: 10000 → "10,000".
func num(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// osLabel names an agent's operating system as precisely as it reported.
func osLabel(a store.Agent) string {
	name := a.OSName
	if name == "" {
		name = osNames[a.OS]
	}
	if name == "" {
		name = a.OS
	}
	return strings.TrimSpace(name + " " + a.OSVersion)
}

// osNames are the display names of runtime.GOOS values.
var osNames = map[string]string{"linux": "Linux", "windows": "Windows", "darwin": "macOS"}

type keyValue struct{ Key, Value string }

func sortedDetail(m map[string]string) []keyValue {
	out := make([]keyValue, 0, len(m))
	for k, v := range m {
		out = append(out, keyValue{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
