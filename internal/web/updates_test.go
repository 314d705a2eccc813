package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

func TestReleaseChannels(t *testing.T) {
	e := newReleaseEnv(t)
	f := e.fixture("Acme", "HQ")
	a := e.enroll(f, linuxFacts("acme-ws-01"))
	admin, tech, ro := e.signedIn(store.RoleAdmin), e.signedIn(store.RoleTechnician), e.signedIn(store.RoleReadonly)
	siteURL, clientURL, agentURL := "/sites/"+f.site.ID, "/clients/"+f.client.ID, "/agents/"+a.ID+"/updates"

	// Everyone sees where the channel comes from; only admins get the selector.
	for _, b := range []*browser{ro, tech} {
		for _, u := range []string{siteURL, clientURL, agentURL} {
			res := b.get(u)
			wantStatus(t, u, res, http.StatusOK)
			mustContain(t, u, res.body, `id="update-channel"`, "Inherits <strong>stable, the default</strong>")
			mustNotContain(t, u, res.body, `id="channel-select"`)
		}
	}
	mustContain(t, "agent tab", ro.get(agentURL).body, "Channel <strong>stable</strong>, the default")
	for _, u := range []string{siteURL, clientURL, agentURL} {
		mustContain(t, "admin "+u, admin.get(u).body, `id="channel-select"`, `<option value="inherit" selected>`, `<option value="beta">beta</option>`)
	}

	wantStatus(t, "technician sets the site channel", tech.post(siteURL+"/channel", url.Values{"channel": {"beta"}}), http.StatusForbidden)
	wantStatus(t, "readonly sets the client channel", ro.post(clientURL+"/channel", url.Values{"channel": {"beta"}}), http.StatusForbidden)
	wantStatus(t, "technician sets the agent channel", tech.post("/agents/"+a.ID+"/channel", url.Values{"channel": {"beta"}}), http.StatusForbidden)
	wantStatus(t, "channel without CSRF", admin.postRaw(siteURL+"/channel", url.Values{"channel": {"beta"}}), http.StatusForbidden)

	// A bad name is shown beside the selector, on the page it came from.
	for _, u := range []string{siteURL, clientURL, "/agents/" + a.ID} {
		res := admin.post(u+"/channel", url.Values{"channel": {"Beta 2"}})
		wantStatus(t, "bad channel on "+u, res, http.StatusBadRequest)
		if msg := regexpFind(`id="channel-error" role="alert">([^<]*)<`, res.body); msg == "" {
			t.Errorf("bad channel on %s: no error beside the selector", u)
		}
	}

	res := admin.post(clientURL+"/channel", url.Values{"channel": {"beta"}})
	wantStatus(t, "set client channel", res, http.StatusSeeOther)
	if got, want := location(res), clientURL+"#update-channel"; got != want {
		t.Errorf("set client channel redirects to %q, want %q", got, want)
	}
	mustContain(t, "client page", admin.get(clientURL).body, "Set here: <strong>beta</strong>", `<option value="beta" selected>`)
	mustContain(t, "site page", ro.get(siteURL).body, `Inherits <strong>beta, from client &#34;Acme&#34;</strong>`)
	mustContain(t, "agent tab", ro.get(agentURL).body, `from client <a href="/clients/`+f.client.ID+`">Acme</a>`)

	wantStatus(t, "set agent channel", admin.post("/agents/"+a.ID+"/channel", url.Values{"channel": {"stable"}}), http.StatusSeeOther)
	mustContain(t, "agent tab", ro.get(agentURL).body, "Channel <strong>stable</strong>, set on this agent", "Set here: <strong>stable</strong>")
	wantStatus(t, "agent inherits again", admin.post("/agents/"+a.ID+"/channel", url.Values{"channel": {"inherit"}}), http.StatusSeeOther)
	ch, err := e.db.EffectiveUpdateChannel(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Channel != "beta" || ch.Source != store.LevelClient {
		t.Errorf("effective channel %+v, want beta from the client", ch)
	}
	entries, _, err := e.db.ListAudit(context.Background(), store.AuditFilter{Action: "update_channel.set"}, store.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Errorf("audit: %d update_channel.set entries, want 3", len(entries))
	}
}

func TestAgentUpdatesTab(t *testing.T) {
	eachReleaseEnv(t, testAgentUpdatesTab)
}

func testAgentUpdatesTab(t *testing.T, e *testEnv) {
	f := e.fixture("Acme", "HQ")
	a := e.enroll(f, linuxFacts("acme-ws-01"))
	admin, tech, ro := e.signedIn(store.RoleAdmin), e.signedIn(store.RoleTechnician), e.signedIn(store.RoleReadonly)
	tab, updateURL := "/agents/"+a.ID+"/updates", "/agents/"+a.ID+"/update"

	res := ro.get(tab)
	wantStatus(t, "readonly updates tab", res, http.StatusOK)
	mustContain(t, "updates tab", res.body, `href="`+tab+`" aria-current="page">Updates</a>`, "Runs <strong>0.1.0</strong>",
		"This agent has never been offered an update.", "No update step recorded yet.")
	mustNotContain(t, "readonly updates tab", res.body, `action="`+updateURL+`"`, `id="update-roles"`)

	// The trays the agent reports are listed with their versions.
	fs := linuxFacts("acme-ws-01")
	fs.Trays = []protocol.TrayInfo{{User: "alice", Session: "2", Version: "0.1.0"}, {User: "bob", Session: "3", Version: "0.0.9"}}
	if err := e.db.UpdateFacts(context.Background(), a.ID, fs); err != nil {
		t.Fatal(err)
	}
	roles := regexpFind(`(?s)<table class="grid update-roles" id="update-roles">(.*?)</table>`, ro.get(tab).body)
	mustContain(t, "roles with a tray behind", roles, "not all on 0.1.0 yet", "<td>agent</td><td>0.1.0</td>",
		"<td>tray:alice</td><td>0.1.0</td>", "<td>tray:bob</td><td>0.0.9</td>")
	fs.Trays = fs.Trays[:1]
	if err := e.db.UpdateFacts(context.Background(), a.ID, fs); err != nil {
		t.Fatal(err)
	}
	roles = regexpFind(`(?s)<table class="grid update-roles" id="update-roles">(.*?)</table>`, ro.get(tab).body)
	mustContain(t, "roles in agreement", roles, "all on 0.1.0", "<td>tray:alice</td><td>0.1.0</td>")
	mustNotContain(t, "roles in agreement", roles, "bob", "not all")
	mustNotContain(t, "technician updates tab", tech.get(tab).body, `action="`+updateURL+`"`)
	mustContain(t, "admin updates tab", admin.get(tab).body, `action="`+updateURL+`"`, `data-confirm="Offer acme-ws-01 the newest stable release now?"`)

	wantStatus(t, "technician updates", tech.post(updateURL, nil), http.StatusForbidden)

	// Nothing to offer: the tab says why, and nothing was recorded.
	res = admin.post(updateURL, nil)
	wantStatus(t, "update with no release", res, http.StatusOK)
	mustContain(t, "update with no release", res.body, `id="update-result"`, "Nothing was offered: no release for its channel and platform.")

	// Publish 0.2.0 on stable, then offer it.
	data := []byte("new agent binary")
	pub := admin.upload(upload{file: data, sig: []byte(signed(t, releaseKey, "0.2.0", data)), channel: "stable"})
	wantStatus(t, "publish", pub, http.StatusSeeOther)
	res = admin.post(updateURL, nil)
	wantStatus(t, "update now", res, http.StatusSeeOther)
	if location(res) != tab {
		t.Errorf("update now redirects to %q, want %q", location(res), tab)
	}
	res = ro.get(tab)
	mustContain(t, "updates tab after the offer", res.body, `href="`+location(pub)+`">0.2.0</a>`, `badge step-offered">offered`)
	if n := len(regexpAll(`<tr>\s*<td><time[^>]*data-local>[^<]*</time></td>\s*<td><a href="(/releases/[^"]+)">0.2.0</a>`, res.body)); n != 1 {
		t.Errorf("history has %d rows for 0.2.0, want 1 (offered)", n)
	}
	mustContain(t, "release page", ro.get(location(pub)).body, `href="`+tab+`">acme-ws-01</a>`, `badge step-offered">offered 1`)
	mustContain(t, "releases list", ro.get("/releases").body, `badge step-offered">offered 1`)

	// A version that failed is offered again only when asked.
	err := e.db.WithTx(context.Background(), func(tx *store.Tx) error {
		_, err := tx.RecordUpdateStep(context.Background(), store.AgentUpdate{AgentID: a.ID, ReleaseID: strings.TrimPrefix(location(pub), "/releases/"),
			Step: "failed", Reason: "disk full"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	res = admin.post(updateURL, nil)
	wantStatus(t, "update after a failure", res, http.StatusOK)
	mustContain(t, "update after a failure", res.body, "Nothing was offered: this release failed there before (retry to try again).",
		`badge step-failed">failed`, "disk full")
	wantStatus(t, "retry", admin.post(updateURL, url.Values{"retry": {"1"}}), http.StatusSeeOther)
	current := regexpFind(`(?s)<table class="grid agent-updates">(.*?)</table>`, ro.get(tab).body)
	mustContain(t, "current update after the retry", current, `badge step-offered">offered`)
	mustNotContain(t, "current update after the retry", current, "failed")

	// Offered again while the first offer stands: the service decides; the
	// page shows its answer either way and never a server error.
	if res := admin.post(updateURL, nil); res.status != http.StatusSeeOther && res.status != http.StatusOK {
		t.Errorf("second update now: status %d", res.status)
	}
	wantStatus(t, "unknown agent", admin.post("/agents/nope/update", nil), http.StatusNotFound)
	wantStatus(t, "unknown agent tab", ro.get("/agents/nope/updates"), http.StatusNotFound)
}
