package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/auth"
	"github.com/steward-rmm/steward/internal/store"
)

func testPaging(t *testing.T, h *harness) {
	all := decode[listOf[store.Client]](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/clients?limit=500", "").want(t, http.StatusOK))
	total := all.Total
	if total < 2 || len(all.Items) != total {
		t.Fatalf("GET /clients?limit=500 = %d items of %d, want all of at least 2", len(all.Items), total)
	}
	names := make([]string, len(all.Items))
	for i, c := range all.Items {
		names[i] = c.Name
	}
	if !slices.IsSortedFunc(names, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) }) {
		t.Errorf("clients are not sorted by name ignoring case: %q", names)
	}

	tests := []struct {
		query     string
		wantNames []string
		limit     int
		offset    int
	}{
		{query: "", wantNames: names[:min(50, total)], limit: 50},
		{query: "?limit=2", wantNames: names[:2], limit: 2},
		{query: "?limit=2&offset=1", wantNames: names[1:3], limit: 2, offset: 1},
		{query: fmt.Sprintf("?limit=5&offset=%d", total-1), wantNames: names[total-1:], limit: 5, offset: total - 1},
		{query: fmt.Sprintf("?offset=%d", total), wantNames: []string{}, limit: 50, offset: total},
		{query: "?offset=100000", wantNames: []string{}, limit: 50, offset: 100000},
		{query: "?limit=1&offset=0", wantNames: names[:1], limit: 1},
	}
	for _, tt := range tests {
		t.Run("clients"+tt.query, func(t *testing.T) {
			res := h.as(t, store.RoleReadonly, "GET", "/api/v1/clients"+tt.query, "").want(t, http.StatusOK)
			// An empty page is [], never null.
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(res.body, &raw); err != nil {
				t.Fatal(err)
			}
			if len(raw) != 4 || string(raw["items"])[0] != '[' {
				t.Errorf("list body = %s, want exactly items (an array), total, limit and offset", res.body)
			}
			got := decode[listOf[store.Client]](t, res)
			gotNames := []string{}
			for _, c := range got.Items {
				gotNames = append(gotNames, c.Name)
			}
			if diff := cmp.Diff(tt.wantNames, gotNames); diff != "" {
				t.Errorf("items (-want +got):\n%s", diff)
			}
			if got.Total != total || got.Limit != tt.limit || got.Offset != tt.offset {
				t.Errorf("total, limit, offset = %d, %d, %d; want %d, %d, %d", got.Total, got.Limit, got.Offset, total, tt.limit, tt.offset)
			}
		})
	}

	for _, q := range []string{"limit=0", "limit=-1", "limit=501", "limit=abc", "limit=1.5", "limit=", "offset=-1", "offset=x", "limit=10&offset=-5"} {
		t.Run("bad "+q, func(t *testing.T) {
			if q == "limit=" {
				// An empty value means the default.
				h.as(t, store.RoleReadonly, "GET", "/api/v1/clients?"+q, "").want(t, http.StatusOK)
				return
			}
			for _, path := range []string{"/api/v1/clients", "/api/v1/agents", "/api/v1/audit", "/api/v1/clients/" + h.acme.ID + "/sites"} {
				h.as(t, store.RoleReadonly, "GET", path+"?"+q, "").want(t, http.StatusBadRequest).errorBody(t)
			}
		})
	}
	t.Run("limit=500", func(t *testing.T) {
		got := decode[listOf[store.Client]](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/clients?limit=500", "").want(t, http.StatusOK))
		if got.Limit != 500 {
			t.Errorf("limit = %d, want 500", got.Limit)
		}
	})

	t.Run("sites", func(t *testing.T) {
		path := "/api/v1/clients/" + h.acme.ID + "/sites"
		got := decode[listOf[store.Site]](t, h.as(t, store.RoleReadonly, "GET", path, "").want(t, http.StatusOK))
		var siteNames []string
		for _, s := range got.Items {
			siteNames = append(siteNames, s.Name)
			if s.ClientID != h.acme.ID {
				t.Errorf("site %q of client %s listed under Acme", s.Name, s.ClientID)
			}
		}
		if !slices.Contains(siteNames, "HQ") || !slices.Contains(siteNames, "Branch") || got.Total != len(got.Items) {
			t.Errorf("Acme's sites = %q (total %d), want HQ and Branch among them", siteNames, got.Total)
		}
		page := decode[listOf[store.Site]](t, h.as(t, store.RoleReadonly, "GET", path+"?limit=1&offset=1", "").want(t, http.StatusOK))
		if len(page.Items) != 1 || page.Items[0].ID != got.Items[1].ID || page.Total != got.Total {
			t.Errorf("second page of one site = %+v, want %s of %d", page, got.Items[1].Name, got.Total)
		}
	})

	t.Run("site counts", func(t *testing.T) {
		hq := decode[store.Site](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/sites/"+h.hq.ID, "").want(t, http.StatusOK))
		if hq.Agents != 2 || hq.Online != 1 || hq.ClientName != "Acme" {
			t.Errorf("HQ = %+v, want 2 agents, 1 online, client Acme", hq)
		}
		acme := decode[store.Client](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/clients/"+h.acme.ID, "").want(t, http.StatusOK))
		if acme.Agents != 3 || acme.Online != 2 || acme.Sites < 2 {
			t.Errorf("Acme = %+v, want 3 agents, 2 online, at least 2 sites", acme)
		}
	})
}

func testAgents(t *testing.T, h *harness) {
	ids := func(hosts ...string) []string {
		out := []string{}
		for _, host := range hosts {
			out = append(out, h.agentsByHost[host].ID)
		}
		return out
	}
	tests := []struct {
		query string
		want  []string // hostnames in order
		total int      // 0 means len(want)
	}{
		{query: "", want: []string{"db-01", "web-01", "web-02", "WIN-PC7"}},
		{query: "online=true", want: []string{"db-01", "web-01"}},
		{query: "online=false", want: []string{"web-02", "WIN-PC7"}},
		{query: "q=WEB", want: []string{"web-01", "web-02"}},
		{query: "q=pc7", want: []string{"WIN-PC7"}},
		{query: "q=10.0.0.5", want: []string{"web-01"}},
		{query: "q=10.", want: []string{"db-01", "web-01", "web-02"}},
		{query: "q=ALICE", want: []string{"web-01"}},
		{query: "q=" + url.QueryEscape(`corp\bob`), want: []string{"WIN-PC7"}},
		{query: "q=%25", want: []string{}},
		{query: "q=_", want: []string{}},
		{query: "q=nothing-matches", want: []string{}},
		{query: "q=++", want: []string{"db-01", "web-01", "web-02", "WIN-PC7"}},
		{query: "client_id=" + h.acme.ID, want: []string{"db-01", "web-01", "web-02"}},
		{query: "client_id=" + h.globex.ID, want: []string{"WIN-PC7"}},
		{query: "site_id=" + h.hq.ID, want: []string{"web-01", "web-02"}},
		{query: "site_id=" + h.branch.ID, want: []string{"db-01"}},
		{query: "client_id=" + h.acme.ID + "&online=false", want: []string{"web-02"}},
		{query: "client_id=" + h.globex.ID + "&online=true", want: []string{}},
		{query: "client_id=" + store.NewID(), want: []string{}},
		{query: "os=windows", want: []string{"WIN-PC7"}},
		{query: "sort=hostname", want: []string{"db-01", "web-01", "web-02", "WIN-PC7"}},
		{query: "sort=-hostname", want: []string{"WIN-PC7", "web-02", "web-01", "db-01"}},
		{query: "sort=version", want: []string{"WIN-PC7", "web-02", "web-01", "db-01"}},
		{query: "sort=-version", want: []string{"db-01", "web-01", "web-02", "WIN-PC7"}},
		{query: "sort=client&online=true", want: []string{"db-01", "web-01"}},
		{query: "sort=-client&q=.", want: []string{"WIN-PC7", "web-01", "web-02", "db-01"}},
		{query: "sort=os&os=windows", want: []string{"WIN-PC7"}},
		{query: "sort=-status&site_id=" + h.hq.ID, want: []string{"web-01", "web-02"}},
		{query: "sort=status&site_id=" + h.hq.ID, want: []string{"web-02", "web-01"}},
		{query: "limit=2", want: []string{"db-01", "web-01"}, total: 4},
		{query: "limit=2&offset=2", want: []string{"web-02", "WIN-PC7"}, total: 4},
		{query: "limit=1&offset=1&online=true", want: []string{"web-01"}, total: 2},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got := decode[listOf[store.Agent]](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/agents?"+tt.query, "").want(t, http.StatusOK))
			gotIDs := []string{}
			for _, a := range got.Items {
				gotIDs = append(gotIDs, a.ID)
			}
			if diff := cmp.Diff(ids(tt.want...), gotIDs); diff != "" {
				var hosts []string
				for _, a := range got.Items {
					hosts = append(hosts, a.Hostname)
				}
				t.Errorf("GET /agents?%s = %q, want %q", tt.query, hosts, tt.want)
			}
			wantTotal := tt.total
			if wantTotal == 0 {
				wantTotal = len(tt.want)
			}
			if got.Total != wantTotal {
				t.Errorf("total = %d, want %d", got.Total, wantTotal)
			}
		})
	}

	for _, q := range []string{
		"sort=name", "sort=-", "sort=" + url.QueryEscape("hostname;DROP TABLE agents"), "sort=--hostname", "sort=HOSTNAME",
		"online=yes", "online=1", "online=TRUE", "online=",
		"q=" + strings.Repeat("x", 201),
	} {
		t.Run("bad "+q[:min(len(q), 40)], func(t *testing.T) {
			if q == "online=" {
				// Empty means no filter.
				h.as(t, store.RoleReadonly, "GET", "/api/v1/agents?"+q, "").want(t, http.StatusOK)
				return
			}
			h.as(t, store.RoleReadonly, "GET", "/api/v1/agents?"+q, "").want(t, http.StatusBadRequest).errorBody(t)
		})
	}
	t.Run("q of 200 characters", func(t *testing.T) {
		h.as(t, store.RoleReadonly, "GET", "/api/v1/agents?q="+strings.Repeat("x", 200), "").want(t, http.StatusOK)
	})
}

func testAgentShape(t *testing.T, h *harness) {
	for _, path := range []string{"/api/v1/agents/" + h.web01.ID, "/api/v1/agents?q=web-01"} {
		res := h.as(t, store.RoleReadonly, "GET", path, "").want(t, http.StatusOK)
		var obj map[string]any
		if strings.Contains(path, "?") {
			list := decode[listOf[map[string]any]](t, res)
			if len(list.Items) != 1 {
				t.Fatalf("GET %s = %d agents, want 1", path, len(list.Items))
			}
			obj = list.Items[0]
		} else {
			obj = decode[map[string]any](t, res)
		}
		want := map[string]any{
			"id": h.web01.ID, "hostname": "web-01", "os": "linux", "version": "1.2.0", "online": true,
			"client_id": h.acme.ID, "site_id": h.hq.ID, "client_name": "Acme", "site_name": "HQ",
			"ip_addresses": []any{"10.0.0.5"}, "users": []any{"alice"},
		}
		for k, v := range want {
			if diff := cmp.Diff(v, obj[k]); diff != "" {
				t.Errorf("GET %s: %q (-want +got):\n%s", path, k, diff)
			}
		}
		for _, k := range []string{"last_seen", "enrolled_at"} {
			s, ok := obj[k].(string)
			ts, err := time.Parse(time.RFC3339, s)
			if !ok || err != nil || time.Since(ts) > time.Hour || time.Since(ts) < -time.Minute {
				t.Errorf("GET %s: %q = %v, want a recent RFC 3339 time", path, k, obj[k])
			}
		}
		for _, secret := range []string{"secret", "secret_hash", "conn_id", "replica_id"} {
			if _, ok := obj[secret]; ok {
				t.Errorf("GET %s exposes %q", path, secret)
			}
		}
	}
	// Offline agents report false, not a missing field, and empty lists.
	res := h.as(t, store.RoleReadonly, "GET", "/api/v1/agents/"+h.web02.ID, "").want(t, http.StatusOK)
	obj := decode[map[string]any](t, res)
	if online, ok := obj["online"].(bool); !ok || online {
		t.Errorf(`offline agent "online" = %v, want false`, obj["online"])
	}
	if users, ok := obj["users"].([]any); !ok || len(users) != 0 {
		t.Errorf(`agent without users: "users" = %v, want []`, obj["users"])
	}
}

func testEnrollmentTokens(t *testing.T, h *harness) {
	// A site of its own, so the list holds exactly the tokens made here.
	site, err := h.svc.CreateSite(t.Context(), access.Console(), h.globex.ID, "Token Site")
	if err != nil {
		t.Fatalf("CreateSite: %v", err)
	}
	path := "/api/v1/sites/" + site.ID + "/enrollment-tokens"
	type tokenView struct {
		store.EnrollmentToken
		State string `json:"state"`
		Token string `json:"token"`
	}
	tests := []struct {
		body         string
		wantLifetime time.Duration
		wantUses     int
	}{
		{body: `{}`, wantLifetime: 24 * time.Hour},
		{body: `{"expires_in":"24h"}`, wantLifetime: 24 * time.Hour},
		{body: `{"expires_in":"7d","max_uses":5}`, wantLifetime: 7 * 24 * time.Hour, wantUses: 5},
		{body: `{"expires_in":" 90m ","max_uses":0}`, wantLifetime: 90 * time.Minute},
		{body: `{"expires_in":"1m"}`, wantLifetime: time.Minute},
		{body: `{"expires_in":"365d","max_uses":100000}`, wantLifetime: 365 * 24 * time.Hour, wantUses: 100000},
	}
	var created []tokenView
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			start := time.Now()
			res := h.as(t, store.RoleTechnician, "POST", path, tt.body).want(t, http.StatusCreated)
			got := decode[tokenView](t, res)
			if !strings.HasPrefix(got.Token, auth.PrefixEnrollment) || len(got.Token) < 40 {
				t.Errorf("token = %q, want %s and a long random part", got.Token, auth.PrefixEnrollment)
			}
			if got.State != "active" || got.SiteID != site.ID || got.MaxUses != tt.wantUses || got.Uses != 0 || got.ID == "" ||
				!strings.HasPrefix(got.Token, got.Prefix) || got.CreatedBy != "technician@example.com (api token)" {
				t.Errorf("created token = %+v, want active, site %s, max_uses %d, made by the technician's token", got, site.ID, tt.wantUses)
			}
			if lo, hi := start.Add(tt.wantLifetime-time.Second), time.Now().Add(tt.wantLifetime+time.Second); got.ExpiresAt.Before(lo) || got.ExpiresAt.After(hi) {
				t.Errorf("expires_at = %v, want %v from now", got.ExpiresAt, tt.wantLifetime)
			}
			created = append(created, got)
		})
	}

	for _, body := range []string{
		`{"expires_in":"abc"}`, `{"expires_in":"7x"}`, `{"expires_in":"d"}`, `{"expires_in":"1.5d"}`,
		`{"expires_in":"0d"}`, `{"expires_in":"0s"}`, `{"expires_in":"30s"}`, `{"expires_in":"-1h"}`, `{"expires_in":"-7d"}`,
		`{"expires_in":"8761h"}`, `{"expires_in":"366d"}`,
		// These overflow int64 nanoseconds and wrap around to exactly 24h.
		`{"expires_in":"281474976710657d"}`, `{"expires_in":"-281474976710655d"}`,
		`{"expires_in":"99999999999999999999d"}`,
		`{"expires_in":24}`, `{"max_uses":-1}`, `{"max_uses":100001}`, `{"max_uses":"5"}`, `{"max_uses":1.5}`,
		`{"expires_at":"2030-01-01T00:00:00Z"}`,
	} {
		t.Run("bad "+body, func(t *testing.T) {
			res := h.as(t, store.RoleOwner, "POST", path, body).want(t, http.StatusBadRequest)
			e := res.errorBody(t)
			if strings.Contains(body, "max_uses\":-") || strings.Contains(body, "100001") {
				if e["field"] != "max_uses" {
					t.Errorf(`"field" = %q, want "max_uses"`, e["field"])
				}
			}
		})
	}

	t.Run("list and revoke", func(t *testing.T) {
		if len(created) == 0 {
			t.Skip("no token was created")
		}
		list := decode[listOf[tokenView]](t, h.as(t, store.RoleReadonly, "GET", path, "").want(t, http.StatusOK))
		if list.Total != len(created) || len(list.Items) != len(created) {
			t.Fatalf("listed %d tokens (total %d), want %d", len(list.Items), list.Total, len(created))
		}
		for _, tok := range list.Items {
			if tok.Token != "" {
				t.Errorf("listed token %s shows its secret", tok.ID)
			}
			if tok.State != "active" {
				t.Errorf("listed token %s state = %q, want active", tok.ID, tok.State)
			}
		}

		victim := created[0]
		res := h.as(t, store.RoleTechnician, "POST", "/api/v1/enrollment-tokens/"+victim.ID+"/revoke", "").want(t, http.StatusOK)
		got := decode[tokenView](t, res)
		if got.ID != victim.ID || got.State != "revoked" || got.RevokedAt.IsZero() || got.Token != "" {
			t.Errorf("revoke = %+v, want %s revoked, without its secret", got, victim.ID)
		}
		// Revoking again is not an error.
		again := decode[tokenView](t, h.as(t, store.RoleAdmin, "POST", "/api/v1/enrollment-tokens/"+victim.ID+"/revoke", "").want(t, http.StatusOK))
		if !again.RevokedAt.Equal(got.RevokedAt) {
			t.Errorf("second revoke moved revoked_at from %v to %v", got.RevokedAt, again.RevokedAt)
		}
		list = decode[listOf[tokenView]](t, h.as(t, store.RoleReadonly, "GET", path, "").want(t, http.StatusOK))
		for _, tok := range list.Items {
			if want := map[bool]string{true: "revoked", false: "active"}[tok.ID == victim.ID]; tok.State != want {
				t.Errorf("token %s state = %q, want %q", tok.ID, tok.State, want)
			}
		}
		_, err := h.db.Enroll(t.Context(), auth.HashSecret(victim.Token), store.NewAgent{SecretHash: "x"})
		if !errors.Is(err, store.ErrTokenRevoked) {
			t.Errorf("Enroll with the revoked token: error = %v, want ErrTokenRevoked", err)
		}
	})
}

func testStatus(t *testing.T, h *harness) {
	type status struct {
		Version       string `json:"version"`
		UptimeSeconds int64  `json:"uptime_seconds"`
		Database      string `json:"database"`
		Agents        struct {
			Total  int `json:"total"`
			Online int `json:"online"`
		} `json:"agents"`
	}
	res := h.as(t, store.RoleReadonly, "GET", "/api/v1/status", "").want(t, http.StatusOK)
	got := decode[status](t, res)
	if got.Version != "test" || got.Database != h.db.Dialect() {
		t.Errorf("status = %+v, want version test, database %s", got, h.db.Dialect())
	}
	// The server started a moment before the harness was built.
	since := time.Since(h.started)
	if min, max := int64(since/time.Second)-1, int64((since+time.Minute)/time.Second); got.UptimeSeconds < min || got.UptimeSeconds > max {
		t.Errorf("uptime_seconds = %d, want between %d and %d", got.UptimeSeconds, min, max)
	}
	if got.Agents.Total != h.totalAgents || got.Agents.Online != h.onlineN {
		t.Errorf("agents = %+v, want total %d, online %d", got.Agents, h.totalAgents, h.onlineN)
	}
	if cc := res.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
}

func testAuditTrail(t *testing.T, h *harness) {
	res := h.as(t, store.RoleAdmin, "POST", "/api/v1/clients", `{"name":"Audit Trail Co"}`).want(t, http.StatusCreated)
	c := decode[store.Client](t, res)

	got := decode[listOf[store.AuditEntry]](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/audit?target_id="+c.ID, "").want(t, http.StatusOK))
	if len(got.Items) != 1 || got.Total != 1 {
		t.Fatalf("audit entries for the new client = %d (total %d), want 1", len(got.Items), got.Total)
	}
	e := got.Items[0]
	admin := h.users[store.RoleAdmin]
	want := store.AuditEntry{
		ID: e.ID, At: e.At, ActorType: "api_token", ActorID: admin.ID, ActorName: admin.Email + " (api token)",
		Action: "client.create", TargetType: "client", TargetID: c.ID, Detail: map[string]string{"name": "Audit Trail Co"}, IP: "127.0.0.1",
	}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Errorf("audit entry (-want +got):\n%s", diff)
	}

	// Filters by action prefix and actor; newest first.
	byAction := decode[listOf[store.AuditEntry]](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/audit?action=client.&actor_id="+admin.ID, "").want(t, http.StatusOK))
	if byAction.Total == 0 || byAction.Items[0].ID != e.ID {
		t.Errorf("audit?action=client.&actor_id=admin first entry = %+v, want the newest, %s", byAction.Items, e.ID)
	}
	for _, it := range byAction.Items {
		if !strings.HasPrefix(it.Action, "client.") || it.ActorID != admin.ID {
			t.Errorf("audit?action=client.&actor_id=admin returned %s by %s", it.Action, it.ActorID)
		}
	}
	// Refused requests leave no trace.
	h.as(t, store.RoleReadonly, "POST", "/api/v1/clients", `{"name":"Refused Co"}`).want(t, http.StatusForbidden)
	none := decode[listOf[store.AuditEntry]](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/audit?actor_id="+h.users[store.RoleReadonly].ID, "").want(t, http.StatusOK))
	if none.Total != 0 {
		t.Errorf("readonly user has %d audit entries, want 0: %+v", none.Total, none.Items)
	}
}
