package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/command"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

type commandBody struct {
	Name    string          `json:"name"`
	Args    json.RawMessage `json:"args,omitempty"`
	Timeout string          `json:"timeout,omitempty"`
}

func (b commandBody) timeout() (time.Duration, error) {
	if b.Timeout == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(b.Timeout)
	if err != nil {
		return 0, errBadRequest("timeout: %q is not a duration like 30s or 5m", b.Timeout)
	}
	return d, nil
}

// targetBody selects agents for a batch; empty fields do not filter, and
// an empty target is refused so a typo cannot reach the whole fleet.
type targetBody struct {
	All      bool     `json:"all"`
	ClientID string   `json:"client_id"`
	SiteID   string   `json:"site_id"`
	OS       string   `json:"os"`
	Online   *bool    `json:"online"`
	Query    string   `json:"q"`
	AgentIDs []string `json:"agent_ids"`
}

type batchBody struct {
	commandBody
	Target targetBody `json:"target"`
}

func (a *API) createAgentCommand(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var body commandBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	timeout, err := body.timeout()
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := a.cfg.DB.Agent(r.Context(), id); err != nil {
		return err
	}
	_, ids, err := a.cfg.Commands.Create(r.Context(), p, command.Request{
		Name: body.Name, Args: body.Args, Timeout: timeout, AgentIDs: []string{id}, Target: "agent " + id,
	})
	if err != nil {
		return err
	}
	c, err := a.cfg.DB.Command(r.Context(), ids[0])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

func (a *API) createCommands(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var body batchBody
	if err := decode(w, r, &body); err != nil {
		return err
	}
	timeout, err := body.timeout()
	if err != nil {
		return err
	}
	t := body.Target
	// The store ignores a blank query; so must the empty-target check.
	t.Query = strings.TrimSpace(t.Query)
	f := store.AgentFilter{ClientID: t.ClientID, SiteID: t.SiteID, OS: t.OS, Online: t.Online, Query: t.Query}
	if !t.All && f == (store.AgentFilter{}) && len(t.AgentIDs) == 0 {
		return errBadRequest(`target: name the agents (client_id, site_id, os, online, q or agent_ids), or set "all": true`)
	}
	if len(t.AgentIDs) > 10000 {
		return errBadRequest("target: at most 10000 agent_ids; use a filter for more")
	}
	batch, _, err := a.cfg.Commands.Create(r.Context(), p, command.Request{
		Name: body.Name, Args: body.Args, Timeout: timeout, Filter: f, AgentIDs: t.AgentIDs, Target: describeTarget(t),
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, batch)
	return nil
}

func describeTarget(t targetBody) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("client_id", t.ClientID)
	add("site_id", t.SiteID)
	add("os", t.OS)
	add("q", t.Query)
	if t.Online != nil {
		add("online", map[bool]string{true: "true", false: "false"}[*t.Online])
	}
	if len(t.AgentIDs) > 0 {
		parts = append(parts, "agents="+strconv.Itoa(len(t.AgentIDs)))
	}
	if len(parts) == 0 {
		return "all agents"
	}
	return strings.Join(parts, " ")
}

func (a *API) listAgentCommands(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := a.cfg.DB.Agent(r.Context(), id); err != nil {
		return err
	}
	items, total, err := a.cfg.DB.ListAgentCommands(r.Context(), id, pg)
	if err != nil {
		return err
	}
	for i := range items {
		items[i] = hideSecrets(items[i])
	}
	writeJSON(w, http.StatusOK, list[store.Command]{Items: items, Total: total, Limit: pg.Limit, Offset: pg.Offset})
	return nil
}

func (a *API) getCommand(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	c, err := a.cfg.DB.Command(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hideSecrets(c))
	return nil
}

// hiddenValue replaces what the API does not show.
const hiddenValue = "[hidden]"

// hideSecrets blanks the values of a script run's environment variables:
// they are the way to pass a script a secret, and the job records only
// their names. Every reader of an agent's commands would see them
// otherwise.
func hideSecrets(c store.Command) store.Command {
	if c.Name != protocol.CommandScript || len(c.Args) == 0 {
		return c
	}
	var run map[string]json.RawMessage
	if json.Unmarshal(c.Args, &run) != nil {
		c.Args = nil // not a run this server wrote: show nothing rather than guess
		return c
	}
	var env map[string]string
	if json.Unmarshal(run["env"], &env) != nil || len(env) == 0 {
		return c
	}
	for k := range env {
		env[k] = hiddenValue
	}
	run["env"], _ = json.Marshal(env)
	c.Args, _ = json.Marshal(run)
	return c
}

func (a *API) getCommandBatch(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	b, err := a.cfg.DB.CommandBatch(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}
