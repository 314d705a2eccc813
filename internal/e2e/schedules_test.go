package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestSchedules runs scheduled scripts on a real agent whose local time
// zone (Asia/Kolkata, +05:30) is not the server's: a "once" a few seconds
// ahead in the agent's local time runs and its output is stored; an agent
// stopped across a due time and started again within the window runs it
// once.
func TestSchedules(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the schedules end-to-end test runs the Linux agent")
	}
	ist, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Skipf("no zoneinfo: %v", err)
	}
	t.Setenv("TZ", "Asia/Kolkata") // the agent's zone; its processes inherit it
	f := newScriptFleet(t, 1)
	f.start(0)
	waitOnline(t, f.api, 1, 60*time.Second)

	var sc struct{ ID string }
	f.api.mustDo("POST", "/api/v1/scripts", map[string]any{"name": "Scheduled hello", "language": "bash",
		"body": "echo \"scheduled $1 at $(date +%H:%M:%S%z)\""}, &sc, 201)
	once := func(name string, at time.Time, window string) map[string]any {
		return map[string]any{"name": name, "script_id": sc.ID, "args": []string{name}, "when": "once " + at.In(ist).Format("2006-01-02 15:04:05"), "window": window}
	}
	var pol struct{ ID string }
	soon := time.Now().Add(12 * time.Second).Truncate(time.Second)
	f.api.mustDo("POST", "/api/v1/policies", map[string]any{"name": "Schedules",
		"document": map[string]any{"scripts": map[string]any{"schedules": []any{once("soon", soon, "10m")}}}}, &pol, 201)
	f.api.mustDo("PUT", "/api/v1/policy-assignments", map[string]any{"level": "site", "target_id": f.siteID, "policy_id": pol.ID}, nil, 200)

	jobOf := func(schedule string) (string, error) {
		var l struct {
			Items []struct {
				ID        string `json:"id"`
				CreatedBy string `json:"created_by"`
			} `json:"items"`
		}
		f.api.mustDo("GET", "/api/v1/jobs?limit=100", nil, &l, 200)
		var ids []string
		for _, j := range l.Items {
			if j.CreatedBy == "schedule "+schedule {
				ids = append(ids, j.ID)
			}
		}
		if len(ids) != 1 {
			return "", fmt.Errorf("jobs of schedule %s: %v", schedule, ids)
		}
		return ids[0], nil
	}
	var job string
	waitFor(t, 60*time.Second, "the job of schedule soon", func() (err error) {
		job, err = jobOf("soon")
		return err
	})
	runs := f.waitRuns(job, 1, 60*time.Second)
	if runs[0].Status != "succeeded" || !strings.HasPrefix(runs[0].Stdout, "scheduled soon at ") || !strings.HasSuffix(runs[0].Stdout, "+0530\n") {
		t.Fatalf("scheduled run %+v; want it succeeded in the agent's +0530 zone", runs[0])
	}

	// Stopped across the due time, started again within the window: once.
	missed := time.Now().Add(10 * time.Second).Truncate(time.Second)
	var upd struct{ ID string }
	f.api.mustDo("PUT", "/api/v1/policies/"+pol.ID, map[string]any{"name": "Schedules",
		"document": map[string]any{"scripts": map[string]any{"schedules": []any{once("soon", soon, "10m"), once("missed", missed, "10m")}}}}, &upd, 200)
	state := filepath.Join(filepath.Dir(f.configs[0]), "schedules.json")
	waitFor(t, 30*time.Second, "the agent to take schedule missed", func() error {
		b, err := os.ReadFile(state)
		if err != nil || !strings.Contains(string(b), `"missed"`) {
			return fmt.Errorf("%s: %q, %v", state, b, err)
		}
		return nil
	})
	f.agents[f.configs[0]].kill()
	waitFor(t, 30*time.Second, "the due time to pass while the agent is stopped", func() error {
		if time.Now().Before(missed.Add(time.Second)) {
			return fmt.Errorf("now %s, due %s", time.Now().Format(time.TimeOnly), missed.Format(time.TimeOnly))
		}
		return nil
	})
	if _, err := jobOf("missed"); err == nil {
		t.Fatal("a job of schedule missed exists while its agent is stopped")
	}
	f.start(0)
	waitFor(t, 60*time.Second, "the job of schedule missed", func() (err error) {
		job, err = jobOf("missed")
		return err
	})
	runs = f.waitRuns(job, 1, 60*time.Second)
	if len(f.job(job).Runs.Items) != 1 || runs[0].Status != "succeeded" || !strings.HasPrefix(runs[0].Stdout, "scheduled missed") {
		t.Fatalf("missed run %+v", f.job(job).Runs.Items)
	}
	// Restarted again: nothing runs twice.
	f.agents[f.configs[0]].kill()
	f.start(0)
	waitOnline(t, f.api, 1, 60*time.Second)
	if _, err := jobOf("soon"); err != nil {
		t.Error(err)
	}
	if n := len(f.job(job).Runs.Items); n != 1 {
		t.Errorf("schedule missed has %d runs after a restart, want 1", n)
	}
}
