package api_test

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

func TestSMTPSettingsAPI(t *testing.T) {
	servertest.Each(t, harnessOptions, func(t *testing.T, s *servertest.Server) {
		h := newHarness(t, s)
		for _, role := range []store.Role{store.RoleAdmin, store.RoleTechnician, store.RoleReadonly} {
			h.as(t, role, "GET", "/api/v1/settings/smtp", "").want(t, http.StatusForbidden)
			h.as(t, role, "PUT", "/api/v1/settings/smtp", `{"host":"smtp.example.com","from":"rmm@example.com"}`).want(t, http.StatusForbidden)
			h.as(t, role, "POST", "/api/v1/settings/smtp/test", `{"to":"ops@example.com"}`).want(t, http.StatusForbidden)
		}
		got := decode[map[string]any](t, h.as(t, store.RoleOwner, "GET", "/api/v1/settings/smtp", "").want(t, http.StatusOK))
		if got["configured"] != false {
			t.Errorf("settings before any save: %v, want configured false", got)
		}
		// Test mail without settings says why it cannot go.
		res := decode[map[string]any](t, h.as(t, store.RoleOwner, "POST", "/api/v1/settings/smtp/test", `{"to":"ops@example.com"}`).want(t, http.StatusOK))
		if res["ok"] != false || !strings.Contains(res["error"].(string), "SMTP is not configured") {
			t.Errorf("test mail without settings: %v, want ok false and SMTP is not configured", res)
		}

		e := h.as(t, store.RoleOwner, "PUT", "/api/v1/settings/smtp", `{"host":"smtp.example.com","port":99999,"from":"rmm@example.com"}`).
			want(t, http.StatusBadRequest).errorBody(t)
		if e["field"] != "port" {
			t.Errorf("bad port: %v, want field port", e)
		}
		// A port where nothing listens: the test mail reports the failure.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		body := `{"host":"127.0.0.1","port":` + strconv.Itoa(port) + `,"security":"starttls","username":"rmm","password":"hunter2-secret","from":"Steward <rmm@example.com>"}`
		put := h.as(t, store.RoleOwner, "PUT", "/api/v1/settings/smtp", body).want(t, http.StatusOK)
		for _, r := range []response{put, h.as(t, store.RoleOwner, "GET", "/api/v1/settings/smtp", "").want(t, http.StatusOK)} {
			if strings.Contains(string(r.body), "hunter2") || strings.Contains(string(r.body), `"password"`) {
				t.Errorf("settings response shows the password: %s", r.body)
			}
			got := decode[map[string]any](t, r)
			if got["configured"] != true || got["password_set"] != true || got["security"] != "starttls" || got["updated_by"] == "" {
				t.Errorf("settings %v; want configured, password set, starttls, updated_by", got)
			}
		}
		e = h.as(t, store.RoleOwner, "POST", "/api/v1/settings/smtp/test", `{"to":"not an address"}`).want(t, http.StatusBadRequest).errorBody(t)
		if e["field"] != "to" {
			t.Errorf("bad test recipient: %v, want field to", e)
		}
		res = decode[map[string]any](t, h.as(t, store.RoleOwner, "POST", "/api/v1/settings/smtp/test", `{"to":"ops@example.com"}`).want(t, http.StatusOK))
		if res["ok"] != false || !strings.Contains(res["error"].(string), "connect to 127.0.0.1:") {
			t.Errorf("test mail to a closed port: %v, want ok false and the connection error", res)
		}
	})
}

func TestEmailChannelsAndRoutesAPI(t *testing.T) {
	servertest.Each(t, harnessOptions, func(t *testing.T, s *servertest.Server) {
		h := newHarness(t, s)
		e := h.as(t, store.RoleAdmin, "POST", "/api/v1/notification-channels", `{"name":"Ops","kind":"email","recipients":["bad"]}`).
			want(t, http.StatusBadRequest).errorBody(t)
		if e["field"] != "recipients" {
			t.Errorf("bad recipient: %v, want field recipients", e)
		}
		c := decode[store.Channel](t, h.as(t, store.RoleAdmin, "POST", "/api/v1/notification-channels",
			`{"name":"Ops","kind":"email","recipients":["ops@example.com"],"min_severity":"critical"}`).want(t, http.StatusCreated))
		if c.Kind != "email" || len(c.Recipients) != 1 || !c.Enabled {
			t.Errorf("created %+v, want an enabled email channel with one recipient", c)
		}
		h.as(t, store.RoleTechnician, "PUT", "/api/v1/notification-channels/"+c.ID, `{"name":"Ops","recipients":["a@example.com"]}`).want(t, http.StatusForbidden)
		up := decode[store.Channel](t, h.as(t, store.RoleAdmin, "PUT", "/api/v1/notification-channels/"+c.ID,
			`{"name":"Ops team","recipients":["a@example.com","b@example.com"],"min_severity":"warning","enabled":false}`).want(t, http.StatusOK))
		if up.Name != "Ops team" || len(up.Recipients) != 2 || up.Enabled {
			t.Errorf("updated %+v, want renamed, two recipients, disabled", up)
		}
		got := decode[store.Channel](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/notification-channels/"+c.ID, "").want(t, http.StatusOK))
		if got.Name != "Ops team" {
			t.Errorf("GET channel %+v, want the update", got)
		}
		h.as(t, store.RoleAdmin, "PUT", "/api/v1/notification-channels/"+store.NewID(), `{"name":"x","recipients":["a@example.com"]}`).want(t, http.StatusNotFound)

		// Policies route by channel ID; an unknown one is a field error.
		missing := store.NewID()
		res := h.as(t, store.RoleAdmin, "PUT", "/api/v1/policies/default",
			`{"name":"Default","document":{"notifications":{"critical":["`+missing+`"]}}}`).want(t, http.StatusBadRequest)
		if !strings.Contains(string(res.body), `"path":"notifications.critical"`) || !strings.Contains(string(res.body), missing) {
			t.Errorf("policy routing to a missing channel: %s, want a field error on notifications.critical", res.body)
		}
		h.as(t, store.RoleAdmin, "PUT", "/api/v1/policies/default",
			`{"name":"Default","document":{"notifications":{"critical":["`+c.ID+`"],"info":[]}}}`).want(t, http.StatusOK)
	})
}

// TestWebhookURLMasked: a chat webhook's URL carries its credential, so
// only people who manage notifications see it whole.
func TestWebhookURLMasked(t *testing.T) {
	servertest.Each(t, harnessOptions, func(t *testing.T, s *servertest.Server) {
		h := newHarness(t, s)
		const hook = "https://hooks.example.com/services/T000/B000/XXXXSECRET?token=abc"
		c := decode[store.Channel](t, h.as(t, store.RoleAdmin, "POST", "/api/v1/notification-channels",
			`{"name":"Chat","url":"`+hook+`","min_severity":"warning"}`).want(t, http.StatusCreated))
		for _, tt := range []struct {
			role store.Role
			want string
		}{
			{store.RoleAdmin, hook},
			{store.RoleTechnician, "https://hooks.example.com/…"},
			{store.RoleReadonly, "https://hooks.example.com/…"},
		} {
			got := decode[store.Channel](t, h.as(t, tt.role, "GET", "/api/v1/notification-channels/"+c.ID, "").want(t, http.StatusOK))
			if got.URL != tt.want {
				t.Errorf("%s GET channel url = %q, want %q", tt.role, got.URL, tt.want)
			}
			all := decode[struct{ Items []store.Channel }](t, h.as(t, tt.role, "GET", "/api/v1/notification-channels", "").want(t, http.StatusOK))
			if len(all.Items) != 1 || all.Items[0].URL != tt.want {
				t.Errorf("%s list channels = %+v, want url %q", tt.role, all.Items, tt.want)
			}
		}
		audit := decode[struct {
			Items []struct {
				Action string
				Detail map[string]string
			}
		}](t, h.as(t, store.RoleOwner, "GET", "/api/v1/audit?limit=100", "").want(t, http.StatusOK))
		created := false
		for _, e := range audit.Items {
			if strings.Contains(e.Detail["url"], "SECRET") {
				t.Errorf("audit %s detail holds the webhook's path: %v", e.Action, e.Detail)
			}
			if e.Action == "channel.create" {
				created = true
				if e.Detail["url"] != "https://hooks.example.com/…" {
					t.Errorf("audit channel.create url = %q, want it masked to https://hooks.example.com/…", e.Detail["url"])
				}
			}
		}
		if !created {
			t.Error("no channel.create entry in the audit log")
		}
	})
}
