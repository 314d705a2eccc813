package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/inventory"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// report stores an inventory report for an agent as the gateway would.
func (e *testEnv) report(agentID string, inv protocol.Inventory) {
	e.t.Helper()
	if _, err := inventory.New(e.db, slog.New(slog.DiscardHandler)).Ingest(context.Background(), agentID, inv); err != nil {
		e.t.Fatalf("Ingest: %v", err)
	}
}

func webReport(at time.Time, software ...protocol.Software) protocol.Inventory {
	yes := true
	return protocol.Inventory{
		CollectedAt: at, Reason: protocol.InventorySchedule,
		Hardware: protocol.Hardware{Manufacturer: "Lenovo", Model: "ThinkPad T14", Serial: "PF-12345", MemoryBytes: 16 << 30,
			CPU:   protocol.CPU{Model: "Ryzen 7 PRO", Cores: 8, Threads: 16},
			Disks: []protocol.Disk{{Name: "nvme0n1", Model: "WDC PC SN730", SizeBytes: 512 << 30}}},
		OS: protocol.OSInfo{Name: "Ubuntu", Version: "24.04", Build: "6.8.0-45-generic", PendingReboot: &yes,
			LastBoot: at.Add(-time.Hour), Timezone: "Europe/Berlin"},
		Software: software,
		Errors:   []string{"bios: permission denied"},
	}
}

func deb(name, version string) protocol.Software {
	return protocol.Software{Name: name, Version: version, Publisher: "Ubuntu Developers", Source: protocol.SoftwareDpkg}
}

func TestAgentInventory(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	f := e.fixture("Acme Corp", "Head Office")
	a := e.enroll(f, linuxFacts("web-01"))
	path := "/agents/" + a.ID + "/inventory"
	reader := e.signedIn(store.RoleReadonly)

	res := reader.get(path)
	wantStatus(t, "GET inventory before a report", res, http.StatusOK)
	mustContain(t, "inventory before a report", res.body, "has not reported an inventory yet")
	mustContain(t, "agent page", reader.get("/agents/"+a.ID).body, `<a href="`+path+`">Inventory</a>`)

	at := time.Now().Add(-2 * time.Hour).UTC()
	e.report(a.ID, webReport(at, deb("firefox", "128.0"), deb("curl", "8.5.0"), deb("<script>alert(1)</script>", "1")))
	e.report(a.ID, webReport(at.Add(time.Hour), deb("firefox", "129.0"), deb("curl", "8.5.0"), deb("<script>alert(1)</script>", "1")))

	res = reader.get(path)
	wantStatus(t, "GET inventory", res, http.StatusOK)
	mustContain(t, "inventory tab", res.body, "<!doctype html>", "<h1>web-01</h1>", "Lenovo ThinkPad T14", "PF-12345",
		"Ryzen 7 PRO", "16.0 GiB", "nvme0n1 · WDC PC SN730 · 512.0 GiB", "Ubuntu 24.04", "6.8.0-45-generic", `<span class="badge warn">yes</span>`,
		"Europe/Berlin", "bios: permission denied", `href="/agents/`+a.ID+`/software">3 programs installed`)
	mustNotContain(t, "inventory tab", res.body, "Refresh inventory", "firefox")

	// Software has its own tab, filtered and paged; htmx gets the section alone.
	sw := "/agents/" + a.ID + "/software"
	res = reader.get(sw)
	mustContain(t, "software tab", res.body, "<!doctype html>", ">firefox</a>", "129.0", ">curl</a>", "&lt;script&gt;", "Showing 1–3 of 3")
	mustNotContain(t, "software tab", res.body, "<script>alert(1)</script>")
	res = reader.get(sw+"?q=FIRE", "HX-Request", "true")
	wantStatus(t, "GET software filtered", res, http.StatusOK)
	mustContain(t, "filtered section", res.body, `id="software"`, `value="FIRE"`, ">firefox</a>")
	mustNotContain(t, "filtered section", res.body, "<!doctype html>", ">curl</a>")
	res = reader.get(sw + "?q=nothing-like-it")
	mustContain(t, "filter without match", res.body, "No software matches “nothing-like-it”.")

	// History has its own tab too.
	res = reader.get("/agents/" + a.ID + "/history")
	mustContain(t, "history tab", res.body, "upgraded", "128.0", "129.0", "first report")

	t.Run("refresh", func(t *testing.T) {
		tech := e.signedIn(store.RoleTechnician)
		mustContain(t, "technician's inventory", tech.get(path).body, `action="`+path+`/refresh"`, "Refresh inventory")

		// htmx posts with the token in a header and swaps the section.
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path+"/refresh", nil)
		req.Header.Set("HX-Request", "true")
		req.Header.Set("X-CSRF-Token", tech.csrf())
		res := tech.do(req)
		wantStatus(t, "htmx POST refresh", res, http.StatusOK)
		mustContain(t, "section after refresh", res.body, "Refresh queued, waiting for the agent", `hx-trigger="every 5s"`, "disabled")
		cmds, _, err := e.db.ListAgentCommands(context.Background(), a.ID, store.Page{})
		if err != nil || len(cmds) != 1 || cmds[0].Name != protocol.CommandInventory || cmds[0].State != store.CommandQueued {
			t.Fatalf("commands after refresh = %+v, %v; want one queued inventory command", cmds, err)
		}
		if _, n, _ := e.db.ListAudit(context.Background(), store.AuditFilter{Action: "command.create"}, store.Page{}); n != 1 {
			t.Errorf("command.create audit entries = %d, want 1", n)
		}
		// A plain form post lands on the inventory page.
		res = tech.post(path+"/refresh", nil)
		wantStatus(t, "POST refresh", res, http.StatusSeeOther)
		if location(res) != path {
			t.Errorf("POST refresh redirects to %q, want %q", location(res), path)
		}

		// The read-only role may not, with or without a token.
		wantStatus(t, "readonly POST refresh", reader.post(path+"/refresh", nil), http.StatusForbidden)
		wantStatus(t, "POST refresh without a token", tech.postRaw(path+"/refresh", url.Values{}), http.StatusForbidden)
		wantStatus(t, "POST refresh of an unknown agent", tech.post("/agents/"+store.NewID()+"/inventory/refresh", nil), http.StatusNotFound)
		if _, n, _ := e.db.ListAgentCommands(context.Background(), a.ID, store.Page{}); n != 2 {
			t.Errorf("commands after refused posts = %d, want 2", n)
		}
	})

	wantStatus(t, "inventory of an unknown agent", reader.get("/agents/"+store.NewID()+"/inventory"), http.StatusNotFound)

	t.Run("software pages", func(t *testing.T) {
		big := e.enroll(f, linuxFacts("big-01"))
		var pkgs []protocol.Software
		for i := range 120 {
			pkgs = append(pkgs, deb(fmt.Sprintf("pkg-%03d", i), "1.0"))
		}
		e.report(big.ID, webReport(time.Now().UTC(), pkgs...))
		sw := "/agents/" + big.ID + "/software"
		res := reader.get(sw + "?page=2")
		mustContain(t, "software page 2", res.body, "Showing 51–100 of 120", ">pkg-050</a>", ">pkg-099</a>",
			`href="`+sw+`?page=3" rel="next"`, `href="`+sw+`" rel="prev"`)
		mustNotContain(t, "software page 2", res.body, ">pkg-049</a>", ">pkg-100</a>")
		// Past the end shows the last page; the filter keeps its query in the links.
		mustContain(t, "software past the end", reader.get(sw+"?page=9").body, "Showing 101–120 of 120")
		mustContain(t, "filtered software", reader.get(sw+"?q=pkg-0").body, "Showing 1–50 of 100", `href="`+sw+`?page=2&amp;q=pkg-0" rel="next"`)
	})
}

func TestSoftwarePage(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	acme, globex := e.fixture("Acme Corp", "Head Office"), e.fixture("Globex", "Plant")
	a1, a2 := e.enroll(acme, linuxFacts("web-01")), e.enroll(acme, linuxFacts("web-02"))
	g1 := e.enroll(globex, linuxFacts("plant-pc"))
	e.connect(a1, linuxFacts("web-01"))
	at := time.Now().Add(-time.Hour)
	e.report(a1.ID, webReport(at, deb("Mozilla Firefox", "129.0"), deb("curl", "8.5.0")))
	e.report(a2.ID, webReport(at, deb("Mozilla Firefox", "129.0")))
	e.report(g1.ID, webReport(at, deb("Mozilla Firefox", "128.0")))
	b := e.signedIn(store.RoleReadonly)

	res := b.get("/software")
	wantStatus(t, "GET /software", res, http.StatusOK)
	mustContain(t, "software page", res.body, `href="/software" aria-current="page"`, "Search the software of every agent")

	mustContain(t, "one letter", b.get("/software?name=f").body, "Type at least 2 characters")

	res = b.get("/software?name=FIREFOX")
	wantStatus(t, "search", res, http.StatusOK)
	titles := regexpAll(`<td><a href="(/software\?title=[0-9a-f]+)">Mozilla Firefox</a></td><td class="mono">([^<]+)</td>`, res.body)
	if len(titles) != 4 { // link and version of each
		t.Fatalf("titles for FIREFOX: %q, want 128.0 and 129.0\n%s", titles, res.body)
	}
	mustContain(t, "search", res.body, "Showing 1–2 of 2", `<td class="num"><a href="/software?title=`)
	mustNotContain(t, "search", res.body, "curl")

	res = b.get("/software?name=firefox&version=129.0")
	mustContain(t, "version search", res.body, "Showing 1–1 of 1", ">2</a></td>")

	res = b.get("/software?name=firefox&client=" + globex.client.ID)
	mustContain(t, "client search", res.body, "Showing 1–1 of 1", ">128.0<")

	// Drill down: the agents with Firefox 129.0, online ones marked.
	link := regexpFind(`<a href="(/software\?title=[0-9a-f]+)">Mozilla Firefox</a></td><td class="mono">129.0<`, b.get("/software?name=firefox").body)
	res = b.get(strings.ReplaceAll(link, "&amp;", "&"))
	wantStatus(t, "drill down", res, http.StatusOK)
	mustContain(t, "drill down", res.body, "Mozilla Firefox <span class=\"mono\">129.0</span>", ">web-01</a>", ">web-02</a>", "Acme Corp", "Showing 1–2 of 2")
	mustNotContain(t, "drill down", res.body, "plant-pc")

	mustContain(t, "unknown title", b.get("/software?title=nope").body, "No agent has this software.")
	mustContain(t, "no match", b.get("/software?name=zzzz").body, "No software matches “zzzz”.")
	wantStatus(t, "invalid UTF-8", b.get("/software?name=%ff%fe%fd"), http.StatusOK)
}
