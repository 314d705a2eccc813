package web_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/store"
)

// scripts.schedules is edited as JSON with the grammar shown and its
// errors beside it; the script page lists the policies that schedule it;
// the jobs list marks the jobs schedules started.
func TestScheduledScriptsInTheDashboard(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	ctx := t.Context()
	var sc store.Script
	err := e.db.WithTx(ctx, func(tx *store.Tx) (err error) {
		sc, err = tx.CreateScript(ctx, store.Script{Name: "Cleanup", Language: "sh", Body: "true", Args: []string{}, Env: map[string]string{},
			Timeout: time.Minute, RunAs: "system", CreatedBy: "tester"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	pol := e.mustPolicy("Nightly", `{}`)
	admin := e.signedIn(store.RoleAdmin)
	res := admin.get("/policies/" + pol.ID)
	mustContain(t, "schedules row", editorRow(t, res.body, "scripts.schedules"), "<textarea", "weekly mon,thu 02:30", "agent&#39;s local time")

	form := url.Values{"name": {"Nightly"}, "set.scripts.schedules": {"1"},
		"v.scripts.schedules": {`[{"name": "nightly", "script_id": "` + sc.ID + `", "when": "weekly mon,thu 02:30"}]`}}
	wantStatus(t, "save a schedule", admin.post("/policies/"+pol.ID, form), http.StatusSeeOther)
	form.Set("v.scripts.schedules", `[{"name": "nightly", "script_id": "`+sc.ID+`", "when": "weekly mon,funday 02:30"}]`)
	res = admin.post("/policies/"+pol.ID, form)
	wantStatus(t, "save a bad schedule", res, http.StatusBadRequest)
	mustContain(t, "schedules row", editorRow(t, res.body, "scripts.schedules"), "aria-invalid", `&#34;funday&#34; is not a day`)

	res = admin.get("/scripts/" + sc.ID)
	mustContain(t, "script page", res.body, `id="script-schedules"`, "/policies/"+pol.ID, "Nightly", "weekly mon,thu 02:30")

	now := time.Now()
	err = e.db.WithTx(ctx, func(tx *store.Tx) error {
		_, _, err := tx.ScheduleJob(ctx, store.ScheduleKey{Schedule: "nightly", ScriptID: sc.ID, Occurrence: "2026-12-03T02:30:00"},
			store.Job{ID: store.NewID(), ScriptID: sc.ID, Name: "Cleanup", Language: "sh", Body: "true", Target: "schedule nightly at 2026-12-03T02:30:00",
				CreatedBy: "schedule nightly", CreatedAt: now, StartBy: now.Add(time.Hour), Timeout: time.Minute})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	res = admin.get("/jobs")
	mustContain(t, "jobs list", res.body, `class="chip scheduled"`, "schedule nightly")
}
