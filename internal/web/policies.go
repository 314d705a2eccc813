package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/store"
)

// allowed refuses a principal that may not perform the action, before
// the form is read, so a read-only user sees "not allowed" rather than a
// validation message.
func allowed(p access.Principal, a access.Action) error {
	if !access.Can(p, a) {
		return fmt.Errorf("%w: role %s cannot %s", access.ErrForbidden, p.User.Role, a)
	}
	return nil
}

// targetRef is where a policy is assigned, named for people.
type targetRef struct {
	Level, TargetID string
	// Label names the target on its own: "Client Acme", "Site HQ (Acme)".
	Label string
	// URL is the target's page; empty for the default level.
	URL string
}

// Scope is the target in the form the editor's context selector and
// the assignment form use: "site:<id>", "default:".
func (t targetRef) Scope() string { return t.Level + ":" + t.TargetID }

// targetNamer names assignment targets, loading each once per request.
type targetNamer struct {
	db    *store.DB
	cache map[string]targetRef
}

func (h *Handler) namer() *targetNamer {
	return &targetNamer{db: h.cfg.DB, cache: map[string]targetRef{}}
}

func (n *targetNamer) name(ctx context.Context, level, id string) (targetRef, error) {
	key := level + ":" + id
	if t, ok := n.cache[key]; ok {
		return t, nil
	}
	t := targetRef{Level: level, TargetID: id, URL: scopePath(level, id)}
	var err error
	switch level {
	case store.LevelDefault:
		t.Label, t.URL = "Default level", ""
	case store.LevelClient:
		var c store.Client
		if c, err = n.db.Client(ctx, id); err == nil {
			t.Label = "Client " + c.Name
		}
	case store.LevelSite:
		var s store.Site
		if s, err = n.db.Site(ctx, id); err == nil {
			t.Label = "Site " + s.Name + " (" + s.ClientName + ")"
		}
	case store.LevelAgent:
		var a store.Agent
		if a, err = n.db.Agent(ctx, id); err == nil {
			t.Label = "Agent " + a.Hostname
		}
	default:
		err = fmt.Errorf("assignment level %q: %w", level, store.ErrNotFound)
	}
	if errors.Is(err, store.ErrNotFound) {
		t.Label, t.URL, err = upperFirst(level)+" "+id+" (deleted)", "", nil
	}
	if err != nil {
		return targetRef{}, err
	}
	n.cache[key] = t
	return t, nil
}

// policyRow is a policy as the list shows it.
type policyRow struct {
	store.Policy
	// Fields is how many fields the policy sets.
	Fields int
	// Where lists the first assignments; More counts the rest.
	Where []targetRef
	More  int
}

// IsDefault reports whether this is the policy the default level starts with.
func (r policyRow) IsDefault() bool { return r.ID == store.DefaultPolicyID }

// policiesView is the data of the policies page.
type policiesView struct {
	Policies []policyRow
	// Outdated counts the agents still on an older policy revision.
	Outdated    int
	Form        formView
	Description string
	// DeleteError says why a policy could not be deleted.
	DeleteError string
}

// listedAssignments is how many assignments a row of the list names.
const listedAssignments = 5

// policiesPage serves GET /policies.
func (h *Handler) policiesPage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	return h.renderPolicies(w, r, http.StatusOK, policiesView{})
}

func (h *Handler) renderPolicies(w http.ResponseWriter, r *http.Request, status int, pv policiesView) error {
	ctx := r.Context()
	pols, err := h.cfg.DB.ListPolicies(ctx)
	if err != nil {
		return err
	}
	n := h.namer()
	for _, p := range pols {
		row := policyRow{Policy: p}
		if doc, err := policy.Decode(p.Document); err == nil {
			row.Fields = doc.Len()
		}
		for i, a := range p.Assignments {
			if i == listedAssignments {
				row.More = len(p.Assignments) - i
				break
			}
			t, err := n.name(ctx, a.Level, a.TargetID)
			if err != nil {
				return err
			}
			row.Where = append(row.Where, t)
		}
		pv.Policies = append(pv.Policies, row)
	}
	if pv.Outdated, err = h.cfg.Policies.CountOutdated(ctx); err != nil {
		return err
	}
	return h.render(w, r, status, "policies", "", view{Title: "Policies", Nav: "policies", Page: pv})
}

// createPolicy serves POST /policies: an empty policy, then its editor.
func (h *Handler) createPolicy(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	name, desc := r.PostFormValue("name"), r.PostFormValue("description")
	pol, err := h.cfg.Manage.CreatePolicy(r.Context(), p, manage.PolicyInput{Name: name, Description: desc})
	if pr, ok := formProblem(err); ok {
		return h.renderPolicies(w, r, pr.Status, policiesView{Form: formView{Name: name, Error: pr.Message, Field: pr.Field}, Description: desc})
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/policies/"+url.PathEscape(pol.ID), http.StatusSeeOther)
	return nil
}

// deletePolicy serves POST /policies/{id}/delete. The default policy and
// assigned ones are refused with a message that says where they are
// assigned; the store refuses them too, should one be assigned meanwhile.
func (h *Handler) deletePolicy(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := allowed(p, access.ManagePolicies); err != nil {
		return err
	}
	ctx := r.Context()
	pol, err := h.cfg.DB.Policy(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	var refusal string
	switch {
	case pol.ID == store.DefaultPolicyID:
		refusal = fmt.Sprintf("%q is the default policy, which every agent inherits from; it cannot be deleted.", pol.Name)
	case len(pol.Assignments) > 0:
		n := h.namer()
		var where []string
		for _, a := range pol.Assignments {
			t, err := n.name(ctx, a.Level, a.TargetID)
			if err != nil {
				return err
			}
			where = append(where, t.Label)
		}
		refusal = fmt.Sprintf("%q is assigned to %s; unassign it first.", pol.Name, strings.Join(where, ", "))
	default:
		err = h.cfg.Manage.DeletePolicy(ctx, p, pol.ID)
		if pr, ok := formProblem(err); ok {
			return h.renderPolicies(w, r, pr.Status, policiesView{DeleteError: pr.Message})
		}
		if err != nil {
			return err
		}
		http.Redirect(w, r, "/policies", http.StatusSeeOther)
		return nil
	}
	return h.renderPolicies(w, r, http.StatusConflict, policiesView{DeleteError: refusal})
}

// editorView is the data of the policy editor.
type editorView struct {
	Policy            store.Policy
	Name, Description string
	// Errors holds problems with the name and description, by form field.
	Errors map[string]string
	// General lists problems that belong to no one field.
	General []string
	// Invalid counts the fields with an error.
	Invalid  int
	Saved    bool
	Sections []editorSection
	// Contexts are the scopes the effective values can be computed for;
	// At is the chosen one.
	Contexts []targetRef
	At       targetRef
	// Assignments are where the policy is assigned.
	Assignments []targetRef
	// Scopes are the assignment form's choices: the default level, every
	// client and every site.
	Scopes []targetRef
	// Action is where the form posts, keeping the chosen context.
	Action string
	// Assign is a refused agent assignment, for its field.
	Assign assignProblem
}

// Severities are the severity select's choices.
func (editorView) Severities() []policy.Severity { return alertSeverities }

type editorSection struct {
	Name   string
	Fields []editorField
}

// editorField is one field of the editor: the input, whether this policy
// sets it, and the effective value in the chosen context.
type editorField struct {
	Path, Help string
	// Label is the path within its section.
	Label string
	// ID is the input's id, the path with dots as dashes.
	ID string
	// Input is bool, int, percent, duration, severity or json.
	Input string
	// Set reports that this policy sets the field ("set here"); an unset
	// field is inherited.
	Set bool
	// Value is the input's value: the policy's own when set, else the
	// effective one, or what the user typed when the form comes back.
	Value string
	// Effective and Source say what an agent in the chosen context gets
	// and from where; SourceURL opens the policy it comes from.
	Effective, Source, SourceURL string
	// FromHere reports that the effective value is this policy's.
	FromHere bool
	Default  string
	Error    string
	// Channels are the choices of a notification route, by name.
	Channels []channelChoice
}

// channelChoice is one box of a notification route: every channel, or
// one channel by name.
type channelChoice struct {
	ID, Name string
	Checked  bool
}

// channelChoices lists "all channels" and each channel for a route whose
// input value is a JSON list of IDs. An ID no channel has any more stays
// listed while the policy names it, so saving does not drop it unseen.
func channelChoices(value string, chans []store.Channel) []channelChoice {
	var ids []string
	_ = json.Unmarshal([]byte(value), &ids)
	chosen := map[string]bool{}
	for _, id := range ids {
		chosen[id] = true
	}
	out := []channelChoice{{ID: policy.AllChannels, Name: "All channels (each by its minimum severity)", Checked: chosen[policy.AllChannels]}}
	known := map[string]bool{}
	for _, c := range chans {
		known[c.ID] = true
		out = append(out, channelChoice{ID: c.ID, Name: c.Name, Checked: chosen[c.ID]})
	}
	for _, id := range ids {
		if id != policy.AllChannels && !known[id] {
			out = append(out, channelChoice{ID: id, Name: "deleted channel " + id, Checked: true})
		}
	}
	return out
}

// editorForm is a submitted editor form, shown again when it has errors.
type editorForm struct {
	Name, Description string
	Set               map[string]bool
	Values            map[string]string
	// Errors are by field path, or by "name" and "description".
	Errors  map[string]string
	General []string
}

// policyPage serves GET /policies/{id}, the editor.
func (h *Handler) policyPage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	return h.renderEditor(w, r, http.StatusOK, nil)
}

func (h *Handler) renderEditor(w http.ResponseWriter, r *http.Request, status int, form *editorForm) error {
	return h.renderEditorWith(w, r, status, form, assignProblem{})
}

// assignProblem is a refused "assign to agent" of the editor, shown
// beside its field: the name typed and what is wrong with it.
type assignProblem struct {
	Agent, Error string
}

func (h *Handler) renderEditorWith(w http.ResponseWriter, r *http.Request, status int, form *editorForm, assign assignProblem) error {
	ctx := r.Context()
	pol, err := h.cfg.DB.Policy(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	doc, err := policy.Decode(pol.Document)
	if err != nil {
		return fmt.Errorf("stored policy %s: %w", pol.ID, err)
	}
	ev := editorView{Policy: pol, Name: pol.Name, Description: pol.Description, Saved: r.URL.Query().Get("saved") == "1", Assign: assign}
	n := h.namer()
	def, err := n.name(ctx, store.LevelDefault, "")
	if err != nil {
		return err
	}
	ev.Contexts = []targetRef{def}
	for _, a := range pol.Assignments {
		t, err := n.name(ctx, a.Level, a.TargetID)
		if err != nil {
			return err
		}
		ev.Assignments = append(ev.Assignments, t)
		if a.Level != store.LevelDefault {
			ev.Contexts = append(ev.Contexts, t)
		}
	}
	// The first assignment is the most telling context; ?at= picks another.
	ev.At = ev.Contexts[min(1, len(ev.Contexts)-1)]
	for _, c := range ev.Contexts {
		if c.Scope() == r.URL.Query().Get("at") {
			ev.At = c
		}
	}
	ev.Action = "/policies/" + url.PathEscape(pol.ID) + "?" + url.Values{"at": {ev.At.Scope()}}.Encode()
	eff, err := h.cfg.Policies.At(ctx, ev.At.Level, ev.At.TargetID)
	if err != nil {
		return fmt.Errorf("effective policy at %s: %w", ev.At.Scope(), err)
	}
	names, err := h.levelNames(ctx, ev.At)
	if err != nil {
		return err
	}
	if form != nil {
		ev.Name, ev.Description, ev.Errors, ev.General = form.Name, form.Description, form.Errors, form.General
	}
	chans, err := h.cfg.DB.ListChannels(ctx)
	if err != nil {
		return err
	}
	chanNames := make(map[string]string, len(chans))
	for _, c := range chans {
		chanNames[c.ID] = c.Name
	}
	for _, sp := range policy.Specs() {
		section, label, _ := strings.Cut(sp.Path, ".")
		if k := len(ev.Sections); k == 0 || ev.Sections[k-1].Name != section {
			ev.Sections = append(ev.Sections, editorSection{Name: section})
		}
		f := editorField{Path: sp.Path, Label: label, Help: sp.Help, ID: "f-" + strings.ReplaceAll(sp.Path, ".", "-"),
			Input: inputKind(sp.Kind), Default: policyValue(sp.Path, sp.Default, chanNames)}
		if f.Input == "int" && isSize(sp.Path) {
			f.Input = "bytes"
		}
		own, set := doc.Get(sp.Path)
		value := own
		if ef, ok := eff.Get(sp.Path); ok {
			f.Effective, f.Source = policyValue(sp.Path, ef.Value, chanNames), sourceLabel(ef.Source, names)
			f.FromHere = ef.Source.PolicyID == pol.ID
			if ef.Source.Level != policy.LevelBuiltin && !f.FromHere {
				f.SourceURL = "/policies/" + url.PathEscape(ef.Source.PolicyID) + "?" + url.Values{"at": {ev.At.Scope()}}.Encode()
			}
			if !set {
				value = ef.Value // turning "set here" on starts from what is inherited
			}
		}
		f.Set, f.Value = set, editorValue(value)
		if f.Input == "bytes" {
			if n, ok := value.(int64); ok {
				f.Value = sizeInput(n)
			}
		}
		if form != nil {
			f.Set, f.Value, f.Error = form.Set[sp.Path], form.Values[sp.Path], form.Errors[sp.Path]
			if f.Error != "" {
				ev.Invalid++
			}
		}
		if f.Input == "channels" {
			f.Channels = channelChoices(f.Value, chans)
		}
		s := &ev.Sections[len(ev.Sections)-1]
		s.Fields = append(s.Fields, f)
	}
	if access.Can(principalOf(r), access.ManagePolicies) {
		if ev.Scopes, err = h.assignScopes(ctx, def); err != nil {
			return err
		}
	}
	return h.render(w, r, status, "policy", "", view{Title: pol.Name + " · Policies", Nav: "policies", Page: ev})
}

// principalOf is the signed-in principal of an authed request.
func principalOf(r *http.Request) access.Principal {
	p, _ := access.FromContext(r.Context())
	return p
}

// assignScopes lists the default level, the clients and the sites, for
// the editor's assignment form.
func (h *Handler) assignScopes(ctx context.Context, def targetRef) ([]targetRef, error) {
	out := []targetRef{def}
	clients, _, err := h.cfg.DB.ListClients(ctx, store.Page{Limit: maxFilterChoices})
	if err != nil {
		return nil, err
	}
	for _, c := range clients {
		out = append(out, targetRef{Level: store.LevelClient, TargetID: c.ID, Label: "Client " + c.Name})
	}
	sites, _, err := h.cfg.DB.ListSites(ctx, "", store.Page{Limit: maxFilterChoices})
	if err != nil {
		return nil, err
	}
	for _, s := range sites {
		out = append(out, targetRef{Level: store.LevelSite, TargetID: s.ID, Label: "Site " + s.Name + " (" + s.ClientName + ")"})
	}
	return out, nil
}

// levelNames names each level above and at the context, for the sources
// of its effective values: a site's context names its client too.
func (h *Handler) levelNames(ctx context.Context, at targetRef) (map[policy.Level]string, error) {
	names := map[policy.Level]string{policy.LevelDefault: "Default level"}
	switch at.Level {
	case store.LevelClient:
		names[policy.LevelClient] = at.Label
	case store.LevelSite:
		s, err := h.cfg.DB.Site(ctx, at.TargetID)
		if err != nil {
			return nil, err
		}
		names[policy.LevelClient], names[policy.LevelSite] = "Client "+s.ClientName, "Site "+s.Name
	case store.LevelAgent:
		a, err := h.cfg.DB.Agent(ctx, at.TargetID)
		if err != nil {
			return nil, err
		}
		names[policy.LevelClient], names[policy.LevelSite], names[policy.LevelAgent] = "Client "+a.ClientName, "Site "+a.SiteName, "Agent "+a.Hostname
	}
	return names, nil
}

// sourceLabel says where an effective value comes from, for people:
// "built-in default", `Client Acme: policy "Servers"`.
func sourceLabel(s policy.Source, names map[policy.Level]string) string {
	if s.Level == policy.LevelBuiltin {
		return "built-in default"
	}
	where := names[s.Level]
	if where == "" {
		where = upperFirst(s.Level.String()) + " level"
	}
	return fmt.Sprintf("%s: policy %q", where, s.PolicyName)
}

// inputKind picks the editor input for a kind. Kinds without their own
// input, including any added later, are edited as their JSON text.
func inputKind(k policy.Kind) string {
	switch k {
	case policy.KindBool:
		return "bool"
	case policy.KindInt:
		return "int"
	case policy.KindPercent:
		return "percent"
	case policy.KindDuration:
		return "duration"
	case policy.KindSeverity:
		return "severity"
	case policy.KindChannels:
		return "channels"
	case policy.KindText:
		return "text"
	}
	return "json"
}

// editorValue writes a value as its input holds it.
func editorValue(v any) string {
	switch x := v.(type) {
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case time.Duration:
		return shortDuration(x)
	case policy.Severity:
		return string(x)
	case string:
		return x
	}
	b, err := policy.MarshalValue(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// shortDuration drops the zero units Go's duration string carries:
// "5m" rather than "5m0s", "12h" rather than "12h0m0s", and writes whole
// days as days: "400d" rather than "9600h".
func shortDuration(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// formJSON turns an input's text into the field's JSON value. Text that
// is not a value of the kind goes on as a JSON string, so the policy
// package's own message ("must be a number") is the one shown; only
// text that is not JSON at all, in a JSON input, is refused here.
func formJSON(k policy.Kind, raw string) (any, string) {
	s := strings.TrimSpace(raw)
	switch k {
	case policy.KindBool:
		return s == "true" || s == "on", ""
	case policy.KindInt:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return json.Number(strconv.FormatInt(n, 10)), "" // "007" is no JSON number
		}
		return s, ""
	case policy.KindPercent:
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return json.Number(strconv.FormatFloat(f, 'f', -1, 64)), ""
		}
		return s, ""
	case policy.KindDuration:
		// Days are written "7d"; Go durations stop at hours.
		if days, ok := strings.CutSuffix(s, "d"); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(days)); err == nil && n >= 0 && n <= 100_000 {
				return (time.Duration(n) * 24 * time.Hour).String(), ""
			}
		}
		return s, ""
	case policy.KindSeverity:
		return s, ""
	case policy.KindText:
		return strings.TrimSpace(raw), ""
	case policy.KindChannels:
		var ids []string
		if err := json.Unmarshal([]byte(s), &ids); err != nil {
			return nil, "must be a list of channels"
		}
		return ids, ""
	}
	if !json.Valid([]byte(s)) {
		return nil, "must be valid JSON"
	}
	return json.RawMessage(s), ""
}

// setPath places v in a nested JSON object along a dotted path.
func setPath(root map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	node := root
	for _, p := range parts[:len(parts)-1] {
		child, ok := node[p].(map[string]any)
		if !ok {
			child = map[string]any{}
			node[p] = child
		}
		node = child
	}
	node[parts[len(parts)-1]] = v
}

// savePolicy serves POST /policies/{id}: it rebuilds the document from
// the fields marked "set here" and saves it through the manage layer,
// which validates, audits and pushes it. Problems come back beside their
// inputs, with what the user typed.
func (h *Handler) savePolicy(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := allowed(p, access.ManagePolicies); err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return &statusError{http.StatusBadRequest, "The form could not be read."}
	}
	form, body, err := readPolicyForm(r.PostForm)
	if err != nil {
		return err
	}
	if len(form.Errors) > 0 {
		// Show every problem at once: check the rest as saving would.
		var fes policy.FieldErrors
		if _, err := policy.Decode(body); errors.As(err, &fes) {
			form.addFieldErrors(fes)
		}
		return h.renderEditor(w, r, http.StatusBadRequest, form)
	}
	id := r.PathValue("id")
	_, err = h.cfg.Manage.UpdatePolicy(r.Context(), p, id, manage.PolicyInput{Name: form.Name, Description: form.Description, Document: body})
	var invalid *manage.PolicyInvalidError
	if errors.As(err, &invalid) {
		form.addFieldErrors(invalid.Fields)
		return h.renderEditor(w, r, http.StatusBadRequest, form)
	}
	if pr, ok := formProblem(err); ok {
		if pr.Field == "name" || pr.Field == "description" {
			form.Errors[pr.Field] = pr.Message
		} else {
			form.General = append(form.General, pr.Message)
		}
		return h.renderEditor(w, r, pr.Status, form)
	}
	if err != nil {
		return err
	}
	q := url.Values{"saved": {"1"}}
	if at := r.URL.Query().Get("at"); at != "" {
		q.Set("at", at)
	}
	http.Redirect(w, r, "/policies/"+url.PathEscape(id)+"?"+q.Encode(), http.StatusSeeOther)
	return nil
}

// readPolicyForm rebuilds the policy document from the editor's fields
// marked "set here". Text that cannot become the field's JSON is an error
// of that field; everything else is left for the policy package to judge.
func readPolicyForm(pf url.Values) (*editorForm, []byte, error) {
	form := &editorForm{
		Name: pf.Get("name"), Description: pf.Get("description"),
		Set: map[string]bool{}, Values: map[string]string{}, Errors: map[string]string{},
	}
	doc := map[string]any{}
	for _, sp := range policy.Specs() {
		raw := pf.Get("v." + sp.Path)
		switch {
		case sp.Kind == policy.KindBool && raw == "":
			raw = "false" // an unchecked box sends nothing
		case sp.Kind == policy.KindChannels:
			raw = channelsJSON(pf["v."+sp.Path])
		}
		set := pf.Get("set."+sp.Path) != ""
		form.Set[sp.Path], form.Values[sp.Path] = set, raw
		if !set {
			continue
		}
		v, msg := formJSON(sp.Kind, raw)
		if sp.Kind == policy.KindInt && isSize(sp.Path) {
			v, msg = sizeJSON(raw)
		}
		if msg == "" && inputKind(sp.Kind) == "json" {
			msg = checkJSONField(sp.Path, v)
		}
		if msg != "" {
			form.Errors[sp.Path] = msg
			continue
		}
		setPath(doc, sp.Path, v)
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("encode policy form: %w", err)
	}
	return form, body, nil
}

// checkJSONField catches JSON that is well formed but that the decoder
// cannot read at all (a number beyond float64, say), which it reports for
// the whole document rather than the field.
func checkJSONField(path string, v any) string {
	one := map[string]any{}
	setPath(one, path, v)
	body, err := json.Marshal(one)
	if err != nil {
		return "must be valid JSON"
	}
	var fes policy.FieldErrors
	if _, err := policy.Decode(body); err != nil && !errors.As(err, &fes) {
		return "is not a value this field can hold"
	}
	return ""
}

// addFieldErrors files each error under its field, or as a general one
// when it names no field of the editor.
func (f *editorForm) addFieldErrors(fes []policy.FieldError) {
	for _, fe := range fes {
		if _, ok := policy.SpecFor(fe.Path); ok {
			if f.Errors[fe.Path] == "" {
				f.Errors[fe.Path] = fe.Message
			}
			continue
		}
		f.General = append(f.General, fe.Error())
	}
}

// outdatedRow is an agent on an older policy revision.
type outdatedRow struct {
	store.Agent
	Want string
}

// outdatedView is the data of the older-revision page.
type outdatedView struct {
	Agents []outdatedRow
	Pager  pager
}

// outdatedPage serves GET /policies/outdated: the agents whose
// acknowledged policy revision is not their effective one.
func (h *Handler) outdatedPage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	all, err := h.cfg.Policies.Outdated(ctx)
	if err != nil {
		return err
	}
	page := min(pageNumber(r.URL.Query()), lastPage(len(all)))
	from := min((page-1)*pageSize, len(all))
	shown := all[from:min(from+pageSize, len(all))]
	ov := outdatedView{Pager: newPager("/policies/outdated", url.Values{}, page, len(shown), len(all))}
	for _, o := range shown {
		a, err := h.cfg.DB.Agent(ctx, o.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since the list was read
		}
		if err != nil {
			return err
		}
		ov.Agents = append(ov.Agents, outdatedRow{Agent: a, Want: o.Want})
	}
	return h.render(w, r, http.StatusOK, "outdated", "", view{Title: "Older policy revision", Nav: "policies", Page: ov})
}

// channelsJSON turns a route's checked boxes into its JSON list: "all"
// alone when checked, else the channels checked; none routes nowhere.
func channelsJSON(checked []string) string {
	ids := []string{}
	for _, id := range checked {
		if id == policy.AllChannels {
			ids = []string{policy.AllChannels}
			break
		}
		if id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	b, _ := json.Marshal(ids)
	return string(b)
}

// sizeUnits are the units a size input takes, as the policy's defaults
// are written: binary multiples.
var sizeUnits = []struct {
	name string
	n    int64
}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"kB", 1 << 10}}

// sizeInput writes a size in the largest unit that divides it: "16 MB".
func sizeInput(n int64) string {
	for _, u := range sizeUnits {
		if n >= u.n && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + " " + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// sizeJSON reads a size input: a number of bytes, or a number with kB,
// MB or GB (any case, space optional). Other text goes on as a string so
// the policy package's message is the one shown.
func sizeJSON(raw string) (any, string) {
	s := strings.TrimSpace(raw)
	mult := int64(1)
	lower := strings.ToLower(s)
	for _, u := range sizeUnits {
		if strings.HasSuffix(lower, strings.ToLower(u.name)) {
			s, mult = strings.TrimSpace(s[:len(s)-len(u.name)]), u.n
			break
		}
	}
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(s), "bytes"), "b"))
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && math.Abs(f*float64(mult)) < 1<<62 {
		n := int64(math.Round(f * float64(mult)))
		return json.Number(strconv.FormatInt(n, 10)), ""
	}
	return raw, ""
}
