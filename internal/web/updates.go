package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/updates"
)

// inheritChannel is the selector's value for "no channel of its own".
const inheritChannel = "inherit"

// releaseChannelForm is the release channel selector of a client, site or agent.
type releaseChannelForm struct {
	// Action is the URL the form posts to.
	Action string
	// Current is the channel set at this level; "" when it inherits.
	Current string
	// Inherited says what inheriting gives, e.g. `beta, from client "Acme"`.
	Inherited string
	Options   []string
	Error     string
}

// releaseChannelForm builds the selector of the level whose own channel is
// current; inherited is what the level above resolves to.
func (h *Handler) releaseChannelForm(ctx context.Context, action, current, inherited, errMsg string) (*releaseChannelForm, error) {
	opts, err := h.channelNames(ctx)
	if err != nil {
		return nil, err
	}
	if current != "" && !slices.Contains(opts, current) {
		opts = append(opts, current)
	}
	return &releaseChannelForm{Action: action, Current: current, Inherited: inherited, Options: opts, Error: errMsg}, nil
}

// inheritedChannel resolves what a level inherits: the site's channel
// (when siteID is set), then the client's, then the default.
func (h *Handler) inheritedChannel(ctx context.Context, clientID, siteID string) (string, error) {
	if siteID != "" {
		s, err := h.cfg.DB.Site(ctx, siteID)
		if err != nil {
			return "", err
		}
		ch, err := h.cfg.DB.UpdateChannelOf(ctx, store.LevelSite, siteID)
		if err != nil {
			return "", err
		}
		if ch != "" {
			return fmt.Sprintf("%s, from site %q", ch, s.Name), nil
		}
	}
	c, err := h.cfg.DB.Client(ctx, clientID)
	if err != nil {
		return "", err
	}
	ch, err := h.cfg.DB.UpdateChannelOf(ctx, store.LevelClient, clientID)
	if err != nil {
		return "", err
	}
	if ch != "" {
		return fmt.Sprintf("%s, from client %q", ch, c.Name), nil
	}
	return store.DefaultUpdateChannel + ", the default", nil
}

// postedChannel reads the selector: nil for inherit.
func postedChannel(r *http.Request) *string {
	v := strings.TrimSpace(r.PostFormValue("channel"))
	if v == inheritChannel {
		return nil
	}
	return &v
}

// setChannel sets a level's channel; a refusal the user can fix is
// returned as its message, for the page to show beside the selector.
func (h *Handler) setChannel(r *http.Request, p access.Principal, level, id string) (string, error) {
	err := h.cfg.Manage.SetUpdateChannel(r.Context(), p, level, id, postedChannel(r))
	if pr, ok := formProblem(err); ok {
		return pr.Message, nil
	}
	return "", err
}

// setSiteChannel serves POST /sites/{id}/channel.
func (h *Handler) setSiteChannel(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	msg, err := h.setChannel(r, p, store.LevelSite, r.PathValue("id"))
	if err != nil {
		return err
	}
	if msg != "" {
		return h.renderSiteWith(w, r, http.StatusBadRequest, tokenForm{ExpiresIn: defaultLifetime, MaxUses: "0"}, msg)
	}
	http.Redirect(w, r, "/sites/"+url.PathEscape(r.PathValue("id"))+"#update-channel", http.StatusSeeOther)
	return nil
}

// setClientChannel serves POST /clients/{id}/channel.
func (h *Handler) setClientChannel(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	msg, err := h.setChannel(r, p, store.LevelClient, r.PathValue("id"))
	if err != nil {
		return err
	}
	if msg != "" {
		return h.renderClientWith(w, r, http.StatusBadRequest, formView{}, msg)
	}
	http.Redirect(w, r, "/clients/"+url.PathEscape(r.PathValue("id"))+"#update-channel", http.StatusSeeOther)
	return nil
}

// setAgentChannel serves POST /agents/{id}/channel.
func (h *Handler) setAgentChannel(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	msg, err := h.setChannel(r, p, store.LevelAgent, r.PathValue("id"))
	if err != nil {
		return err
	}
	if msg != "" {
		return h.renderAgentUpdates(w, r, http.StatusBadRequest, agentUpdatesNote{ChannelError: msg})
	}
	http.Redirect(w, r, "/agents/"+url.PathEscape(r.PathValue("id"))+"/updates", http.StatusSeeOther)
	return nil
}

// agentUpdatesNote is what a form on the updates tab has to say.
type agentUpdatesNote struct {
	ChannelError string
	UpdateError  string
	// Result is what "Update now" did when it offered nothing.
	Result string
}

// agentUpdatesView is the updates tab of the agent page.
type agentUpdatesView struct {
	Channel store.UpdateChannel
	// SourceURL links the level the channel comes from.
	SourceURL string
	Form      *releaseChannelForm
	Updates   []store.AgentUpdate
	History   []store.UpdateEvent
	// Releases names the releases of the updates and events by ID.
	Releases map[string]store.Release
	// CanUpdate reports that "Update now" can be offered at all.
	CanUpdate bool
	// Roles is what the agent, its watchdog and its trays run; RolesAgree
	// that they all run the agent's version (the update is complete).
	Roles      []updates.Role
	RolesAgree bool
	agentUpdatesNote
}

// updateHistoryRows bounds the history the tab shows.
const updateHistoryRows = 100

// agentUpdates serves GET /agents/{id}/updates.
func (h *Handler) agentUpdates(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	return h.renderAgentUpdates(w, r, http.StatusOK, agentUpdatesNote{})
}

func (h *Handler) renderAgentUpdates(w http.ResponseWriter, r *http.Request, status int, note agentUpdatesNote) error {
	ctx := r.Context()
	a, err := h.cfg.DB.Agent(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	uv := &agentUpdatesView{CanUpdate: h.cfg.Updates != nil && !a.Uninstalled(), Releases: map[string]store.Release{},
		agentUpdatesNote: note}
	uv.Roles, uv.RolesAgree = updates.Roles(a)
	if uv.Channel, err = h.cfg.DB.EffectiveUpdateChannel(ctx, a.ID); err != nil {
		return err
	}
	switch uv.Channel.Source {
	case store.LevelSite:
		uv.SourceURL = "/sites/" + url.PathEscape(uv.Channel.SourceID)
	case store.LevelClient:
		uv.SourceURL = "/clients/" + url.PathEscape(uv.Channel.SourceID)
	}
	own, err := h.cfg.DB.UpdateChannelOf(ctx, store.LevelAgent, a.ID)
	if err != nil {
		return err
	}
	inherited, err := h.inheritedChannel(ctx, a.ClientID, a.SiteID)
	if err != nil {
		return err
	}
	if uv.Form, err = h.releaseChannelForm(ctx, "/agents/"+url.PathEscape(a.ID)+"/channel", own, inherited, note.ChannelError); err != nil {
		return err
	}
	if uv.Updates, err = h.cfg.DB.AgentUpdates(ctx, a.ID); err != nil {
		return err
	}
	if uv.History, err = h.cfg.DB.UpdateEvents(ctx, a.ID, updateHistoryRows); err != nil {
		return err
	}
	// Name each release once; a deleted one shows by its ID.
	for _, id := range releaseIDs(uv.Updates, uv.History) {
		rel, err := h.cfg.DB.GetRelease(ctx, id)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return err
		}
		uv.Releases[id] = rel
	}
	av := agentView{Agent: a, Tab: "updates", Updates: uv}
	title := "Updates · " + a.Hostname
	return h.render(w, r, status, "agent", "", view{Title: title, Nav: "agents", Page: av})
}

// releaseIDs lists the releases updates and events name, once each.
func releaseIDs(us []store.AgentUpdate, es []store.UpdateEvent) []string {
	seen := map[string]bool{}
	for _, u := range us {
		seen[u.ReleaseID] = true
	}
	for _, e := range es {
		seen[e.ReleaseID] = true
	}
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// updateAgent serves POST /agents/{id}/update: "Update now" offers the
// agent the newest release of its channel, as POST /api/v1/agents/{id}/update
// does (the updates service audits it).
func (h *Handler) updateAgent(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if h.cfg.Updates == nil {
		return errNotFound
	}
	id := r.PathValue("id")
	if _, err := h.cfg.DB.Agent(r.Context(), id); err != nil {
		return err
	}
	sum, err := h.cfg.Updates.UpdateNow(r.Context(), p, updates.Request{
		Selection: updates.Selection{AgentIDs: []string{id}}, Retry: r.PostFormValue("retry") == "1"})
	if pr, ok := formProblem(err); ok {
		return h.renderAgentUpdates(w, r, pr.Status, agentUpdatesNote{UpdateError: pr.Message})
	}
	if err != nil {
		return err
	}
	if sum.Offered == 0 {
		// Nothing changed: say why on the tab itself.
		reasons := make([]string, 0, len(sum.Skipped))
		for why := range sum.Skipped {
			reasons = append(reasons, why)
		}
		sort.Strings(reasons)
		msg := "Nothing was offered."
		if len(reasons) > 0 {
			msg = "Nothing was offered: " + strings.Join(reasons, "; ") + "."
		}
		return h.renderAgentUpdates(w, r, http.StatusOK, agentUpdatesNote{Result: msg})
	}
	http.Redirect(w, r, "/agents/"+url.PathEscape(id)+"/updates", http.StatusSeeOther)
	return nil
}
