package access

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/store"
)

func TestCan(t *testing.T) {
	actions := []Action{ReadFleet, ManageTenancy, ManageEnroll, ManageUsers, ManageSettings, RemoteTerminal, ManageSessions}
	// want lists the actions each role may perform; everything else is denied.
	tests := []struct {
		role store.Role
		want []Action
	}{
		{store.RoleOwner, []Action{ReadFleet, ManageTenancy, ManageEnroll, ManageUsers, ManageSettings, RemoteTerminal, ManageSessions}},
		{store.RoleAdmin, []Action{ReadFleet, ManageTenancy, ManageEnroll, ManageUsers, RemoteTerminal, ManageSessions}},
		{store.RoleTechnician, []Action{ReadFleet, ManageEnroll, RemoteTerminal}},
		{store.RoleReadonly, []Action{ReadFleet}},
		{"", nil},
		{"superuser", nil},
		{"OWNER", nil}, // roles are stored lowercase; no case folding here
	}
	for _, tt := range tests {
		t.Run(string(tt.role), func(t *testing.T) {
			p := Principal{User: store.User{Role: tt.role}, Via: "session"}
			for _, a := range actions {
				want := false
				for _, w := range tt.want {
					want = want || w == a
				}
				if got := Can(p, a); got != want {
					t.Errorf("Can(%s, %s) = %v, want %v", tt.role, a, got, want)
				}
			}
			if Can(p, "no.such.action") {
				t.Errorf("Can(%s, no.such.action) = true, want false", tt.role)
			}
		})
	}
}

func TestCanIgnoresVia(t *testing.T) {
	// The same role has the same permissions whichever way it logged in;
	// only manage special-cases the console.
	for _, via := range []string{"session", "api_token", "console", "setup", ""} {
		p := Principal{User: store.User{Role: store.RoleReadonly}, Via: via}
		if Can(p, ManageTenancy) {
			t.Errorf("Can(readonly via %q, %s) = true, want false", via, ManageTenancy)
		}
	}
}

func TestPrincipalContext(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Error("FromContext(empty context) ok = true, want false")
	}
	p := Principal{User: store.User{ID: "u1", Email: "a@example.com", Role: store.RoleAdmin}, Via: "session", IP: "192.0.2.1"}
	got, ok := FromContext(WithPrincipal(context.Background(), p))
	if !ok {
		t.Fatal("FromContext(WithPrincipal(p)) ok = false, want true")
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("FromContext(WithPrincipal(p)) (-want +got):\n%s", diff)
	}
}

func TestConsole(t *testing.T) {
	p := Console()
	if p.Via != "console" || p.User.Role != store.RoleOwner || p.IP != "local" {
		t.Errorf("Console() = %+v, want via console, role owner, IP local", p)
	}
	if !Can(p, ManageSettings) {
		t.Error("Can(Console(), ManageSettings) = false, want true")
	}
}

func TestPrincipalAudit(t *testing.T) {
	user := store.User{ID: "u1", Email: "alice@example.com", Role: store.RoleAdmin}
	detail := map[string]string{"name": "Acme"}
	tests := []struct {
		name string
		p    Principal
		want store.AuditEntry
	}{
		{
			name: "session",
			p:    Principal{User: user, Via: "session", SessionHash: "h", IP: "192.0.2.1"},
			want: store.AuditEntry{ActorType: "user", ActorID: "u1", ActorName: "alice@example.com", IP: "192.0.2.1"},
		},
		{
			name: "api token",
			p:    Principal{User: user, Via: "api_token", TokenID: "t1", IP: "192.0.2.2"},
			want: store.AuditEntry{ActorType: "api_token", ActorID: "u1", ActorName: "alice@example.com (api token)", IP: "192.0.2.2"},
		},
		{
			name: "console",
			p:    Console(),
			want: store.AuditEntry{ActorType: "console", ActorName: "console", IP: "local"},
		},
		{
			name: "setup link",
			p:    Principal{User: user, Via: "setup", IP: "198.51.100.7"},
			want: store.AuditEntry{ActorType: "setup", ActorID: "u1", ActorName: "setup link", IP: "198.51.100.7"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.Action, tt.want.TargetType, tt.want.TargetID, tt.want.Detail = "client.create", "client", "c1", detail
			got := tt.p.Audit("client.create", "client", "c1", detail)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Audit (-want +got):\n%s", diff)
			}
			if got.ActorName != tt.p.ActorName() {
				t.Errorf("Audit().ActorName = %q, ActorName() = %q; want equal", got.ActorName, tt.p.ActorName())
			}
		})
	}
}
