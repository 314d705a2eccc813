package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/jobs"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// maxScriptForm bounds the editor's post: a 48 KiB body percent-encoded
// can triple, and the arguments, environment and description come on top.
const maxScriptForm = 1 << 20

// registerScripts adds the script library's routes; Register calls it
// only when the server has the jobs service.
func (h *Handler) registerScripts(mux *http.ServeMux) {
	mux.Handle("GET /scripts", h.authed(h.scriptsPage))
	mux.Handle("POST /scripts", h.authedLarge(h.createScript, maxScriptForm))
	mux.Handle("GET /scripts/new", h.authed(h.newScriptPage))
	// The import reads its multipart body as a stream and checks the CSRF
	// token itself, so that an oversized file is told as such.
	mux.Handle("POST /scripts/import", h.authedWith(h.importScript, true, true, maxImportRequest))
	mux.Handle("GET /scripts/{id}", h.authed(h.scriptPage))
	mux.Handle("POST /scripts/{id}", h.authedLarge(h.updateScript, maxScriptForm))
	mux.Handle("POST /scripts/{id}/delete", h.authed(h.deleteScript))
	mux.Handle("GET /scripts/{id}/export", h.authed(h.exportScript))
}

// languageChoice is one language of the editor's select and the filter.
type languageChoice struct {
	Value, Label, Ext string
}

// languageChoices are the script languages, in protocol.Languages order.
var languageChoices = []languageChoice{
	{protocol.LangPowerShell, "PowerShell", ".ps1"},
	{protocol.LangCmd, "Windows cmd", ".cmd"},
	{protocol.LangBash, "bash", ".sh"},
	{protocol.LangSh, "sh", ".sh"},
	{protocol.LangPython, "Python", ".py"},
	{protocol.LangZsh, "zsh", ".zsh"},
}

// languageLabel names a language for people; an unknown one is shown as is.
func languageLabel(lang string) string {
	for _, l := range languageChoices {
		if l.Value == lang {
			return l.Label
		}
	}
	return lang
}

// languageExt is the file extension a language's raw export gets.
func languageExt(lang string) string {
	for _, l := range languageChoices {
		if l.Value == lang {
			return l.Ext
		}
	}
	return ".txt"
}

// targetChoices are the editor's target OS choices; "" runs anywhere.
var targetChoices = []keyValue{{"", "Any"}, {"windows", "Windows"}, {"linux", "Linux"}, {"darwin", "macOS"}}

// targetLabel names a target OS for people.
func targetLabel(os string) string {
	for _, c := range targetChoices {
		if c.Key == os {
			return c.Value
		}
	}
	return os
}

// scriptsQuery is the library's filters.
type scriptsQuery struct {
	Q, Category, Language string
}

func (q scriptsQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"q": q.Q, "category": q.Category, "language": q.Language} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// Filtered reports whether any filter is set, to tell "no script yet"
// from "none matches".
func (q scriptsQuery) Filtered() bool { return q.Q != "" || q.Category != "" || q.Language != "" }

// scriptRow is a script as the library lists it.
type scriptRow struct {
	store.Script
}

// LanguageLabel and TargetLabel name the row's language and target OS
// for people.
func (r scriptRow) LanguageLabel() string { return languageLabel(r.Language) }
func (r scriptRow) TargetLabel() string   { return targetLabel(r.TargetOS) }

// scriptsView is the data of the library page.
type scriptsView struct {
	Query      scriptsQuery
	Scripts    []scriptRow
	Categories []string
	Languages  []languageChoice
	Pager      pager
	// Deleted reports that a script was just deleted.
	Deleted bool
}

// scriptsPage serves GET /scripts: the library with its filters.
func (h *Handler) scriptsPage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	q := r.URL.Query()
	sq := scriptsQuery{Q: strings.TrimSpace(q.Get("q")), Category: q.Get("category"), Language: q.Get("language")}
	page := pageNumber(q)
	list, total, err := h.cfg.DB.ListScripts(ctx, store.ScriptFilter{Search: sq.Q, Category: sq.Category, Language: sq.Language},
		store.Page{Limit: pageSize, Offset: (page - 1) * pageSize})
	if err != nil {
		return err
	}
	cats, err := h.cfg.DB.ScriptCategories(ctx)
	if err != nil {
		return err
	}
	sv := scriptsView{Query: sq, Categories: cats, Languages: languageChoices, Deleted: q.Get("deleted") != "",
		Pager: newPager("/scripts", sq.values(), page, len(list), total)}
	for _, s := range list {
		sv.Scripts = append(sv.Scripts, scriptRow{s})
	}
	return h.render(w, r, http.StatusOK, "scripts", "", view{Title: "Scripts", Nav: "scripts", Page: sv})
}

// scriptForm is the editor's fields as the user typed them.
type scriptForm struct {
	Name, Description, Category, Language, Body string
	// Args holds one argument per line; Env one NAME=value per line.
	Args, Env string
	// Timeout is a duration as people write it: 90s, 10m, 1h30m.
	Timeout  string
	TargetOS string
	RunAs    string
	// Version is the version the edit was made on (0 for a new script).
	Version int
	// Newline is "crlf" when the script's lines end in CRLF: the textarea
	// loses that, so the form carries it and the save puts it back.
	Newline string
}

// newlineOf names the line ending style of a body: "crlf" or "".
func newlineOf(body string) string {
	if strings.Contains(body, "\r\n") {
		return "crlf"
	}
	return ""
}

// scriptFormOf fills the editor with a stored script.
func scriptFormOf(s store.Script) scriptForm {
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := make([]string, 0, len(keys))
	for _, k := range keys {
		env = append(env, k+"="+s.Env[k])
	}
	return scriptForm{Name: s.Name, Description: s.Description, Category: s.Category, Language: s.Language, Body: s.Body,
		Args: strings.Join(s.Args, "\n"), Env: strings.Join(env, "\n"), Timeout: scriptDuration(s.Timeout),
		TargetOS: s.TargetOS, RunAs: s.RunAs, Version: s.Version, Newline: newlineOf(s.Body)}
}

// scriptDuration writes d without the zero units time.Duration.String
// adds (10m rather than 10m0s) and, unlike shortDuration, never in days:
// the timeout field reads it back with time.ParseDuration.
func scriptDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	}
	return shortDuration(d)
}

// readScriptForm reads the editor's post.
func readScriptForm(r *http.Request) scriptForm {
	version, _ := strconv.Atoi(r.PostFormValue("version"))
	f := scriptForm{
		Name: r.PostFormValue("name"), Description: strings.ReplaceAll(r.PostFormValue("description"), "\r\n", "\n"),
		Category: r.PostFormValue("category"), Language: r.PostFormValue("language"),
		Body:     strings.ReplaceAll(r.PostFormValue("body"), "\r\n", "\n"),
		Args:     r.PostFormValue("args"),
		Env:      r.PostFormValue("env"),
		Timeout:  strings.TrimSpace(r.PostFormValue("timeout")),
		TargetOS: r.PostFormValue("target_os"), RunAs: r.PostFormValue("run_as"),
		Version: version, Newline: r.PostFormValue("newline"),
	}
	// Browsers send a textarea's line breaks as CRLF whatever the text
	// had: the body gets back the line ending it was loaded with, LF for
	// a new one, and CRLF for cmd scripts always, which cmd.exe expects
	// (its labels and GOTO misbehave with bare LF).
	if f.Newline == "crlf" || f.Language == protocol.LangCmd {
		f.Body = strings.ReplaceAll(f.Body, "\n", "\r\n")
	}
	return f
}

// lines splits a textarea's value into its lines without blank ones.
func lines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// input turns the form into what the jobs service saves; what the form
// itself cannot read is an input.Error on its field, like the service's.
func (f scriptForm) input() (jobs.ScriptInput, error) {
	in := jobs.ScriptInput{Name: f.Name, Description: f.Description, Category: f.Category, Language: f.Language,
		Body: f.Body, Args: lines(f.Args), Env: map[string]string{}, TargetOS: f.TargetOS, RunAs: f.RunAs, Version: f.Version}
	if in.Args == nil {
		in.Args = []string{}
	}
	for i, l := range strings.Split(strings.ReplaceAll(f.Env, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		name, value, ok := strings.Cut(l, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return in, input.Errorf("env", "line %d: write NAME=value", i+1)
		}
		if _, dup := in.Env[name]; dup {
			return in, input.Errorf("env", "%s is set twice", name)
		}
		in.Env[name] = value
	}
	if f.Timeout != "" {
		d, err := time.ParseDuration(f.Timeout)
		if err != nil || d <= 0 {
			return in, input.Errorf("timeout", "must be a duration like 90s, 10m or 1h30m")
		}
		in.Timeout = d
	}
	return in, nil
}

// scriptEditor is the data of the editor page, for a new script and for
// an existing one.
type scriptEditor struct {
	// Script is the stored script; its ID is empty for a new one.
	Script store.Script
	Form   scriptForm
	// Errors holds the problems by form field; Conflict the stale-version one.
	Errors   map[string]string
	Conflict string
	// Notice says what just happened (saved, unchanged, restored, imported).
	Notice     string
	Versions   []store.ScriptVersion
	Categories []string
	Languages  []languageChoice
	Targets    []keyValue
	// Viewing is the version shown read-only, when one is asked for.
	Viewing *store.ScriptVersion
	// ImportError says why an uploaded file was refused.
	ImportError string
	// Schedules are the policies' schedules that run the script.
	Schedules []scriptSchedule
}

// NextVersion is the version a changed save makes.
func (e scriptEditor) NextVersion() int { return e.Script.Version + 1 }

// IsNew reports whether the editor makes a new script.
func (e scriptEditor) IsNew() bool { return e.Script.ID == "" }

// Action is where the editor's form posts.
func (e scriptEditor) Action() string {
	if e.IsNew() {
		return "/scripts"
	}
	return "/scripts/" + url.PathEscape(e.Script.ID)
}

// LanguageLabel, TargetLabel and Duration word a version's fields for
// its read-only view.
func (e scriptEditor) LanguageLabel(lang string) string { return languageLabel(lang) }
func (e scriptEditor) TargetLabel(os string) string     { return targetLabel(os) }
func (e scriptEditor) Duration(d time.Duration) string  { return scriptDuration(d) }

// RawName is the file name of the raw export.
func (e scriptEditor) RawName() string {
	return exportName(e.Script.Name) + languageExt(e.Script.Language)
}

func (h *Handler) renderScriptEditor(w http.ResponseWriter, r *http.Request, status int, ed scriptEditor) error {
	ctx := r.Context()
	var err error
	if ed.Categories, err = h.cfg.DB.ScriptCategories(ctx); err != nil {
		return err
	}
	if !ed.IsNew() && ed.Versions == nil {
		if ed.Versions, err = h.cfg.DB.ScriptVersions(ctx, ed.Script.ID); err != nil {
			return err
		}
	}
	ed.Languages, ed.Targets = languageChoices, targetChoices
	if ed.Errors == nil {
		ed.Errors = map[string]string{}
	}
	title := "New script"
	if !ed.IsNew() {
		title = ed.Script.Name
	}
	return h.render(w, r, status, "script", "", view{Title: title, Nav: "scripts", Page: ed})
}

// newScriptPage serves GET /scripts/new: an empty editor.
func (h *Handler) newScriptPage(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := allowed(p, access.EditScripts); err != nil {
		return err
	}
	return h.renderScriptEditor(w, r, http.StatusOK, scriptEditor{Form: scriptForm{Language: protocol.LangPowerShell,
		Timeout: scriptDuration(protocol.DefaultScriptTimeout), RunAs: protocol.RunAsSystem}})
}

// scriptPage serves GET /scripts/{id}: the editor at the current version.
// ?version=N shows that version read-only beside it; ?restore=N loads it
// into the form, to be saved as a new version.
func (h *Handler) scriptPage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	sc, err := h.cfg.DB.GetScript(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	ed := scriptEditor{Script: sc, Form: scriptFormOf(sc)}
	switch {
	case q.Get("saved") != "":
		ed.Notice = "Saved as version " + strconv.Itoa(sc.Version) + "."
	case q.Get("unchanged") != "":
		ed.Notice = "Nothing changed: no new version."
	}
	if v := q.Get("version"); v != "" {
		sv, err := h.scriptVersion(r, sc.ID, v)
		if err != nil {
			return err
		}
		ed.Viewing = &sv
	}
	if ed.Schedules, err = h.schedulesOf(ctx, sc.ID); err != nil {
		return err
	}
	if v := q.Get("restore"); v != "" {
		sv, err := h.scriptVersion(r, sc.ID, v)
		if err != nil {
			return err
		}
		ed.Form = scriptFormOf(sv.Script)
		// The edit is made on the current version: saving makes the
		// restored text the next version rather than a conflict.
		ed.Form.Version = sc.Version
		ed.Notice = fmt.Sprintf("Version %d is loaded into the editor. Save to make it version %d.", sv.Version, sc.Version+1)
	}
	return h.renderScriptEditor(w, r, http.StatusOK, ed)
}

func (h *Handler) scriptVersion(r *http.Request, id, v string) (store.ScriptVersion, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return store.ScriptVersion{}, errNotFound
	}
	return h.cfg.DB.GetScriptVersion(r.Context(), id, n)
}

// createScript serves POST /scripts.
func (h *Handler) createScript(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := allowed(p, access.EditScripts); err != nil {
		return err
	}
	f := readScriptForm(r)
	in, err := f.input()
	if err == nil {
		var sc store.Script
		if sc, err = h.cfg.Jobs.CreateScript(r.Context(), p, in); err == nil {
			http.Redirect(w, r, "/scripts/"+url.PathEscape(sc.ID)+"?saved=1", http.StatusSeeOther)
			return nil
		}
	}
	return h.editorProblem(w, r, scriptEditor{Form: f}, err)
}

// updateScript serves POST /scripts/{id}: a new version, unless nothing
// changed.
func (h *Handler) updateScript(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := allowed(p, access.EditScripts); err != nil {
		return err
	}
	ctx := r.Context()
	cur, err := h.cfg.DB.GetScript(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	f := readScriptForm(r)
	in, err := f.input()
	if err == nil {
		var sc store.Script
		if sc, err = h.cfg.Jobs.UpdateScript(ctx, p, cur.ID, in); err == nil {
			next := "?saved=1"
			if sc.Version == cur.Version {
				next = "?unchanged=1"
			}
			http.Redirect(w, r, "/scripts/"+url.PathEscape(sc.ID)+next, http.StatusSeeOther)
			return nil
		}
	}
	return h.editorProblem(w, r, scriptEditor{Script: cur, Form: f}, err)
}

// editorProblem shows the editor again with what was typed and the error
// beside its field, or fails the page when the error is not the form's.
func (h *Handler) editorProblem(w http.ResponseWriter, r *http.Request, ed scriptEditor, err error) error {
	pr, ok := formProblem(err)
	if !ok {
		return err
	}
	var inv *input.Error
	switch {
	case errors.As(err, &inv) && inv.Field == "version":
		ed.Conflict = "This script was changed by someone else since you opened it (" + inv.Message + "). " +
			"Your text is below, not saved; open the script again to see the current version."
	case errors.As(err, &inv) && slices.Contains(editorFields, inv.Field):
		ed.Errors = map[string]string{inv.Field: scriptMessage(inv)}
	default:
		ed.Errors = map[string]string{"": pr.Message}
	}
	return h.renderScriptEditor(w, r, pr.Status, ed)
}

// editorFields are the form fields an error can be shown beside.
var editorFields = []string{"name", "description", "category", "language", "body", "args", "env", "timeout", "target_os", "run_as"}

// scriptMessage words a field's error for beside the field. Messages
// that are a predicate ("is required", "must be ...") get the field's
// name; the others ("body is empty", "a script named ... exists") are
// sentences already.
func scriptMessage(inv *input.Error) string {
	msg := inv.Message
	for _, predicate := range []string{"is ", "at most ", "must "} {
		if strings.HasPrefix(msg, predicate) {
			return scriptFieldLabel(inv.Field) + " " + msg + "."
		}
	}
	return upperFirst(strings.Replace(msg, "run_as", "run as", 1)) + "."
}

func scriptFieldLabel(field string) string {
	switch field {
	case "target_os":
		return "Target OS"
	case "run_as":
		return "Run as"
	}
	return fieldLabel(field)
}

// deleteScript serves POST /scripts/{id}/delete.
func (h *Handler) deleteScript(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := allowed(p, access.EditScripts); err != nil {
		return err
	}
	ctx := r.Context()
	sc, err := h.cfg.DB.GetScript(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := h.cfg.Jobs.DeleteScript(ctx, p, sc.ID); err != nil {
		return err
	}
	// The notice does not repeat the name from the URL: a link could make
	// the page announce anything.
	http.Redirect(w, r, "/scripts?deleted=1", http.StatusSeeOther)
	return nil
}
