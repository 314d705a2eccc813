package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/command"
	"github.com/steward-rmm/steward/internal/inventory"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// recentCommands is how many of an agent's latest commands are searched
// for its last inventory refresh.
const recentCommands = 20

// inventoryView is the data of an agent's inventory section.
type inventoryView struct {
	Agent store.Agent
	// Snapshot is nil before the agent's first report.
	Snapshot *store.InventorySnapshot
	Software []store.InstalledSoftware
	// SoftwareTotal counts the rows matching SoftwareQ, shown or not.
	SoftwareTotal int
	SoftwareQ     string
	History       []store.InventoryChange
	Pager         pager
	// Refresh is the agent's latest inventory command, nil if none.
	Refresh *store.Command
	// Self is the section's URL with its current filter and page.
	Self string
	// CanRefresh is false when this server sends no commands.
	CanRefresh bool
}

// Pending reports whether the latest refresh still waits for the agent.
func (v inventoryView) Pending() bool {
	return v.Refresh != nil && (v.Refresh.State == store.CommandQueued || v.Refresh.State == store.CommandSent)
}

// Disks describes the disks for display.
func (v inventoryView) Disks() []string {
	var out []string
	if v.Snapshot == nil {
		return out
	}
	for _, d := range v.Snapshot.Hardware.Disks {
		parts := []string{d.Name}
		if d.Model != "" {
			parts = append(parts, d.Model)
		}
		if d.SizeBytes > 0 {
			parts = append(parts, inventory.FormatBytes(d.SizeBytes))
		}
		out = append(out, strings.Join(parts, " · "))
	}
	return out
}

// System is the manufacturer and model.
func (v inventoryView) System() string {
	if v.Snapshot == nil {
		return ""
	}
	return joinKnown(v.Snapshot.Hardware.Manufacturer, v.Snapshot.Hardware.Model)
}

// BIOS is the firmware's vendor, version and date.
func (v inventoryView) BIOS() string {
	if v.Snapshot == nil {
		return ""
	}
	b := v.Snapshot.Hardware.BIOS
	return joinKnown(b.Vendor, b.Version, b.Date)
}

// Memory is the installed memory, empty when unknown.
func (v inventoryView) Memory() string {
	if v.Snapshot == nil || v.Snapshot.Hardware.MemoryBytes == 0 {
		return ""
	}
	return inventory.FormatBytes(v.Snapshot.Hardware.MemoryBytes)
}

// OSName is the operating system's name and version.
func (v inventoryView) OSName() string {
	if v.Snapshot == nil {
		return ""
	}
	return joinKnown(v.Snapshot.OS.Name, v.Snapshot.OS.Version)
}

// changeLabels name the history's change kinds.
var changeLabels = map[string]string{
	inventory.KindFirstReport: "first report", inventory.KindSoftwareInstalled: "installed",
	inventory.KindSoftwareRemoved: "removed", inventory.KindSoftwareUpgraded: "upgraded",
	inventory.KindSoftwareDowngraded: "downgraded", inventory.KindMemoryChanged: "memory",
	inventory.KindCPUChanged: "CPU", inventory.KindDiskAdded: "disk added", inventory.KindDiskRemoved: "disk removed",
	inventory.KindDiskChanged: "disk changed", inventory.KindOSChanged: "operating system",
	inventory.KindBIOSChanged: "BIOS", inventory.KindSystemChanged: "system", inventory.KindSoftwareChanged: "software changes",
}

// ChangeLabel names a change kind for people.
func (inventoryView) ChangeLabel(kind string) string {
	if l, ok := changeLabels[kind]; ok {
		return l
	}
	return kind
}

// joinKnown joins the non-empty parts with spaces.
func joinKnown(parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, " ")
}

// agentInventory serves GET /agents/{id}/inventory: hardware and
// operating system, with the refresh button. htmx (the refresh and its
// polling) gets the section alone.
func (h *Handler) agentInventory(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	a, err := h.cfg.DB.Agent(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	iv, err := h.loadInventory(r.Context(), a)
	if err != nil {
		return err
	}
	return h.renderInventory(w, r, iv)
}

func (h *Handler) renderInventory(w http.ResponseWriter, r *http.Request, iv inventoryView) error {
	block := ""
	if isPartial(r) {
		block = "inventory-section"
	}
	return h.renderAgent(w, r, agentView{Agent: iv.Agent, Tab: "inventory", Inventory: &iv}, block)
}

// loadInventory reads the agent's latest snapshot and inventory command.
func (h *Handler) loadInventory(ctx context.Context, a store.Agent) (inventoryView, error) {
	iv := inventoryView{Agent: a, CanRefresh: h.cfg.Commands != nil, Self: "/agents/" + url.PathEscape(a.ID) + "/inventory"}
	snap, err := h.cfg.DB.InventorySnapshot(ctx, a.ID)
	switch {
	case err == nil:
		iv.Snapshot = &snap
	case !errors.Is(err, store.ErrNotFound):
		return iv, err
	}
	cmds, _, err := h.cfg.DB.ListAgentCommands(ctx, a.ID, store.Page{Limit: recentCommands})
	if err != nil {
		return iv, err
	}
	for _, c := range cmds {
		if c.Name == protocol.CommandInventory {
			iv.Refresh = &c
			break
		}
	}
	return iv, nil
}

// agentSoftware serves GET /agents/{id}/software?q=&page=: the installed
// software, filtered by name and paged. htmx (the filter as one types,
// the pager) gets the section alone.
func (h *Handler) agentSoftware(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	a, err := h.cfg.DB.Agent(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	path := "/agents/" + url.PathEscape(a.ID) + "/software"
	iv := inventoryView{Agent: a, SoftwareQ: clipQuery(q.Get("q")), Self: path}
	snap, err := h.cfg.DB.InventorySnapshot(ctx, a.ID)
	switch {
	case err == nil:
		iv.Snapshot = &snap
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	base := url.Values{}
	if iv.SoftwareQ != "" {
		base.Set("q", iv.SoftwareQ)
	}
	if iv.Snapshot != nil {
		sw, err := h.cfg.DB.AgentSoftware(ctx, a.ID, iv.SoftwareQ)
		if err != nil {
			return err
		}
		// One agent's list is a few thousand rows at most: page it here.
		page := min(pageNumber(q), lastPage(len(sw)))
		from := min((page-1)*pageSize, len(sw))
		iv.Software = sw[from:min(from+pageSize, len(sw))]
		iv.SoftwareTotal = len(sw)
		iv.Pager = newPager(path, base, page, len(iv.Software), len(sw))
	}
	block := ""
	if isPartial(r) {
		block = "software-section"
	}
	return h.renderAgent(w, r, agentView{Agent: a, Tab: "software", Inventory: &iv}, block)
}

// agentHistory serves GET /agents/{id}/history: the inventory's changes,
// newest first, paged.
func (h *Handler) agentHistory(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	a, err := h.cfg.DB.Agent(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	path := "/agents/" + url.PathEscape(a.ID) + "/history"
	iv := inventoryView{Agent: a, Self: path}
	page := pageNumber(r.URL.Query())
	changes, total, err := h.cfg.DB.InventoryChanges(ctx, a.ID, "", store.Page{Limit: pageSize, Offset: (page - 1) * pageSize})
	if err != nil {
		return err
	}
	iv.History = changes
	iv.Pager = newPager(path, url.Values{}, page, len(changes), total)
	return h.renderAgent(w, r, agentView{Agent: a, Tab: "history", Inventory: &iv}, "")
}

// refreshInventory serves POST /agents/{id}/inventory/refresh: it queues
// the inventory command, which the agent answers after uploading a fresh
// report.
func (h *Handler) refreshInventory(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if h.cfg.Commands == nil {
		return errNotFound
	}
	a, err := h.cfg.DB.Agent(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	_, _, err = h.cfg.Commands.Create(r.Context(), p, command.Request{
		Name: protocol.CommandInventory, AgentIDs: []string{a.ID}, Target: "agent " + a.ID,
	})
	if err != nil {
		return err
	}
	if !isPartial(r) {
		http.Redirect(w, r, "/agents/"+a.ID+"/inventory", http.StatusSeeOther)
		return nil
	}
	iv, err := h.loadInventory(r.Context(), a)
	if err != nil {
		return err
	}
	return h.renderInventory(w, r, iv)
}

// softwareView is the data of the fleet software page.
type softwareView struct {
	Name, Version, Client string
	// TitleID selects one title: the page lists the agents that have it.
	TitleID  string
	Titles   []store.TitleCount
	Installs []store.SoftwareInstall
	Clients  []store.Client
	Pager    pager
	// Searched is true when the query was long enough to run.
	Searched bool
	Problem  string
}

// MinQuery is the shortest name the search runs with.
func (softwareView) MinQuery() int { return minSoftwareQuery }

// TitleURL links a title's agents, keeping the client filter.
func (v softwareView) TitleURL(id string) string {
	q := url.Values{"title": {id}}
	if v.Client != "" {
		q.Set("client", v.Client)
	}
	return "/software?" + q.Encode()
}

const minSoftwareQuery = 2

// maxQueryLen bounds a search text in bytes.
const maxQueryLen = 200

// clipQuery trims and bounds a search text and drops invalid UTF-8, which
// PostgreSQL refuses.
func clipQuery(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxQueryLen {
		s = s[:maxQueryLen]
	}
	return strings.ToValidUTF8(s, "")
}

// softwarePage serves GET /software: titles matching a name with how many
// agents have each, and for one title the agents that have it.
func (h *Handler) softwarePage(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	q := r.URL.Query()
	sv := softwareView{
		Name: clipQuery(q.Get("name")), Version: clipQuery(q.Get("version")),
		Client: clipQuery(q.Get("client")), TitleID: clipQuery(q.Get("title")),
	}
	var err error
	if sv.Clients, _, err = h.cfg.DB.ListClients(ctx, store.Page{Limit: maxFilterChoices}); err != nil {
		return err
	}
	base := url.Values{}
	for k, v := range map[string]string{"name": sv.Name, "version": sv.Version, "client": sv.Client, "title": sv.TitleID} {
		if v != "" {
			base.Set(k, v)
		}
	}
	page := pageNumber(q)
	pg := store.Page{Limit: pageSize, Offset: (page - 1) * pageSize}
	f := store.SoftwareFilter{ClientID: sv.Client}
	switch {
	case sv.TitleID != "":
		f.TitleID = sv.TitleID
		var total int
		if sv.Installs, total, err = h.cfg.DB.SearchSoftware(ctx, f, pg); err != nil {
			return err
		}
		sv.Searched = true
		sv.Pager = newPager("/software", base, page, len(sv.Installs), total)
	case len([]rune(sv.Name)) >= minSoftwareQuery:
		f.Name, f.Version = sv.Name, sv.Version
		var total int
		if sv.Titles, total, err = h.cfg.DB.SoftwareTitles(ctx, f, pg); err != nil {
			return err
		}
		sv.Searched = true
		sv.Pager = newPager("/software", base, page, len(sv.Titles), total)
	case sv.Name != "":
		sv.Problem = "Type at least 2 characters of the name."
	}
	return h.render(w, r, http.StatusOK, "software", "", view{Title: "Software", Nav: "software", Page: sv})
}
