package web

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/store"
)

// csvBatch is how many agents one export query reads. An export has no
// cap: it streams every matching agent batch by batch, so its memory does
// not grow with the fleet, and a file is never cut short without saying.
const csvBatch = 500

// csvURL is the export of this view: the same filters and sort, every page.
func (q agentQuery) csvURL() string {
	v := q.values()
	v.Del("col")
	if len(v) == 0 {
		return "/agents.csv"
	}
	return "/agents.csv?" + v.Encode()
}

func agentIDs(agents []store.Agent) []string {
	ids := make([]string, len(agents))
	for i, a := range agents {
		ids[i] = a.ID
	}
	return ids
}

// agentsCSV serves GET /agents.csv: every agent the list's filters match,
// in its sort order, with the columns a technician scans for.
func (h *Handler) agentsCSV(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ctx := r.Context()
	q := parseAgentQuery(r.URL.Query())
	f := q.filter()
	since := time.Now().Add(-vitalsSince)
	// The first batch is read before any byte is written, so a failure
	// there still gets an error page.
	agents, _, err := h.cfg.DB.ListAgents(ctx, f, store.Page{Limit: csvBatch})
	if err != nil {
		return err
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/csv; charset=utf-8")
	hd.Set("Content-Disposition", `attachment; filename="agents-`+time.Now().UTC().Format("2006-01-02")+`.csv"`)
	hd.Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"id", "hostname", "client", "site", "status", "os", "agent_version", "unresolved_alerts",
		"cpu_percent", "memory_percent", "disk_percent", "disk_mount", "users", "boot_time", "reboot_pending",
		"last_seen", "ip_addresses"})
	for offset := 0; len(agents) > 0; {
		vitals, err := h.cfg.DB.AgentVitals(ctx, agentIDs(agents), since)
		if err != nil {
			abortExport(h, err)
		}
		for _, a := range agents {
			v := vitals[a.ID]
			_ = cw.Write([]string{a.ID, csvSafe(a.Hostname), csvSafe(a.ClientName), csvSafe(a.SiteName), a.Status,
				csvSafe(osLabel(a)), csvSafe(a.Version), strconv.Itoa(v.Alerts),
				csvPercent(v.CPU), csvPercent(v.Memory), csvPercent(v.Disk), csvSafe(v.DiskMount),
				csvSafe(strings.Join(a.Users, " ")), csvTime(a.BootTime), csvBool(v.PendingReboot),
				csvTime(a.LastSeen), strings.Join(a.IPAddresses, " ")})
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return nil // the browser went away
		}
		offset += len(agents)
		if len(agents) < csvBatch {
			break
		}
		if agents, _, err = h.cfg.DB.ListAgents(ctx, f, store.Page{Limit: csvBatch, Offset: offset}); err != nil {
			abortExport(h, err)
		}
	}
	return nil
}

// abortExport ends an export that failed after its headers were sent by
// breaking the connection, so the browser reports a failed download rather
// than saving a file cut short that looks whole.
func abortExport(h *Handler, err error) {
	h.log.Error("export agents; download aborted", "err", err)
	panic(http.ErrAbortHandler)
}

// csvSafe keeps a spreadsheet from reading an agent-reported text as a
// formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func csvPercent(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', 1, 64)
}

func csvBool(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// percent writes a use percentage for the list, "—" when unknown.
func percent(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.0f %%", *v)
}

// load classes a use percentage for colour: "hot" from 90, "warm" from 75.
func load(v *float64) string {
	switch {
	case v == nil:
		return ""
	case *v >= 90:
		return "hot"
	case *v >= 75:
		return "warm"
	}
	return ""
}
