package policy

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// doc builds a document from path → value pairs, failing the test on a bad pair.
func doc(t *testing.T, kv ...any) Document {
	t.Helper()
	var d Document
	for i := 0; i < len(kv); i += 2 {
		if err := d.Set(kv[i].(string), kv[i+1]); err != nil {
			t.Fatalf("Set(%q, %v): %v", kv[i], kv[i+1], err)
		}
	}
	return d
}

func TestResolve(t *testing.T) {
	def := Assignment{Level: LevelDefault, PolicyID: "p-def", PolicyName: "Org",
		Document: doc(t, "metrics.interval", 45*time.Second)}
	client := Assignment{Level: LevelClient, PolicyID: "p-cli", PolicyName: "Acme",
		Document: doc(t, "metrics.interval", 30*time.Second, "thresholds.cpu.trigger", 95, "metrics.enabled.temperature", true)}
	site := Assignment{Level: LevelSite, PolicyID: "p-site", PolicyName: "Acme HQ",
		Document: doc(t, "metrics.interval", 20*time.Second, "thresholds.cpu.severity", SeverityCritical)}
	agent := Assignment{Level: LevelAgent, PolicyID: "p-agent", PolicyName: "db1",
		Document: doc(t, "metrics.interval", 10*time.Second, "thresholds.cpu.trigger", 99)}

	builtin := Source{Level: LevelBuiltin}
	src := func(a Assignment) Source {
		return Source{Level: a.Level, PolicyID: a.PolicyID, PolicyName: a.PolicyName}
	}
	type want struct {
		value  any
		source Source
	}
	tests := []struct {
		name        string
		assignments []Assignment
		want        map[string]want
	}{
		{"builtin only", nil, map[string]want{
			"metrics.interval":            {60 * time.Second, builtin},
			"thresholds.cpu.trigger":      {90.0, builtin},
			"thresholds.cpu.severity":     {SeverityWarning, builtin},
			"metrics.enabled.temperature": {false, builtin},
		}},
		{"default level", []Assignment{def}, map[string]want{
			"metrics.interval":       {45 * time.Second, src(def)},
			"thresholds.cpu.trigger": {90.0, builtin},
		}},
		{"client sets", []Assignment{def, client}, map[string]want{
			"metrics.interval":            {30 * time.Second, src(client)},
			"thresholds.cpu.trigger":      {95.0, src(client)},
			"metrics.enabled.temperature": {true, src(client)},
			"thresholds.cpu.clear":        {80.0, builtin},
		}},
		{"site overrides client", []Assignment{def, client, site}, map[string]want{
			"metrics.interval":            {20 * time.Second, src(site)},
			"thresholds.cpu.trigger":      {95.0, src(client)},
			"thresholds.cpu.severity":     {SeverityCritical, src(site)},
			"metrics.enabled.temperature": {true, src(client)},
		}},
		{"agent overrides all", []Assignment{def, client, site, agent}, map[string]want{
			"metrics.interval":            {10 * time.Second, src(agent)},
			"thresholds.cpu.trigger":      {99.0, src(agent)},
			"thresholds.cpu.severity":     {SeverityCritical, src(site)},
			"metrics.enabled.temperature": {true, src(client)},
			"inventory.interval":          {24 * time.Hour, builtin},
		}},
		{"order of arguments does not matter", []Assignment{agent, site, def, client}, map[string]want{
			"metrics.interval":       {10 * time.Second, src(agent)},
			"thresholds.cpu.trigger": {99.0, src(agent)},
		}},
		{"site removed falls back to client", []Assignment{def, client, agent}, map[string]want{
			"metrics.interval":        {10 * time.Second, src(agent)},
			"thresholds.cpu.severity": {SeverityWarning, builtin},
		}},
		{"agent removed falls back to site", []Assignment{def, client, site}, map[string]want{
			"thresholds.cpu.trigger": {95.0, src(client)},
		}},
		{"only agent and site, no client", []Assignment{site, agent}, map[string]want{
			"metrics.interval":            {10 * time.Second, src(agent)},
			"metrics.enabled.temperature": {false, builtin},
		}},
		{"empty documents inherit", []Assignment{{Level: LevelSite, PolicyID: "p-empty"}, {Level: LevelAgent}}, map[string]want{
			"metrics.interval": {60 * time.Second, builtin},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eff := Resolve(tt.assignments...)
			if got, want := len(eff.Fields()), len(Specs()); got != want {
				t.Errorf("len(Fields()) got %d, want %d", got, want)
			}
			for path, w := range tt.want {
				got, ok := eff.Get(path)
				if !ok {
					t.Fatalf("Get(%q) not found", path)
				}
				if diff := cmp.Diff(w.value, got.Value); diff != "" {
					t.Errorf("Get(%q).Value mismatch (-want +got):\n%s", path, diff)
				}
				if got.Source != w.source {
					t.Errorf("Get(%q).Source got %v, want %v", path, got.Source, w.source)
				}
			}
			if errs := eff.Validate(); errs != nil {
				t.Errorf("Validate() got %v, want none", errs)
			}
		})
	}
}

func TestResolveSameLevelLaterWins(t *testing.T) {
	a := Assignment{Level: LevelSite, PolicyID: "a", Document: doc(t, "metrics.interval", 30*time.Second)}
	b := Assignment{Level: LevelSite, PolicyID: "b", Document: doc(t, "metrics.interval", 40*time.Second)}
	got, _ := Resolve(a, b).Get("metrics.interval")
	if got.Value != 40*time.Second || got.Source.PolicyID != "b" {
		t.Errorf("Resolve(a, b) metrics.interval got %v from %v, want 40s from b", got.Value, got.Source)
	}
}

func TestBuiltinSetsEveryFieldAndIsValid(t *testing.T) {
	b := Builtin()
	if got, want := b.Len(), len(Specs()); got != want {
		t.Errorf("Builtin().Len() got %d, want %d", got, want)
	}
	if errs := Validate(b); errs != nil {
		t.Errorf("Validate(Builtin()) got %v, want none", errs)
	}
	// Assigning the built-in document changes sources but not values.
	if got, want := Resolve(Assignment{Level: LevelAgent, Document: b}).Revision(), Resolve().Revision(); got != want {
		t.Errorf("revision with builtin assigned got %s, want %s", got, want)
	}
}

func TestSourceString(t *testing.T) {
	tests := []struct {
		src  Source
		want string
	}{
		{Source{}, "built-in default"},
		{Source{Level: LevelClient, PolicyID: "p1", PolicyName: "Acme"}, `client policy "Acme" (p1)`},
		{Source{Level: LevelAgent, PolicyID: "p2", PolicyName: "db"}, `agent policy "db" (p2)`},
	}
	for _, tt := range tests {
		if got := tt.src.String(); got != tt.want {
			t.Errorf("%#v.String() got %q, want %q", tt.src, got, tt.want)
		}
	}
}

func TestRevisionStable(t *testing.T) {
	viaClient := Resolve(Assignment{Level: LevelClient, PolicyID: "c", Document: doc(t,
		"metrics.interval", 30*time.Second, "thresholds.disk_mounts", map[string]DiskLimits{
			"/":    {PercentTrigger: 90, PercentClear: 80},
			"/var": {PercentTrigger: 97, PercentClear: 93},
			"/srv": {FreeBytesTrigger: 10, FreeBytesClear: 20},
		})})
	viaAgent := Resolve(
		Assignment{Level: LevelSite, PolicyID: "s", Document: doc(t, "metrics.interval", 50*time.Second)},
		Assignment{Level: LevelAgent, PolicyID: "a", Document: doc(t,
			"metrics.interval", 30*time.Second, "thresholds.disk_mounts", map[string]DiskLimits{
				"/srv": {FreeBytesTrigger: 10, FreeBytesClear: 20},
				"/var": {PercentTrigger: 97, PercentClear: 93},
				"/":    {PercentTrigger: 90, PercentClear: 80},
			})})
	if viaClient.Revision() != viaAgent.Revision() {
		t.Errorf("revisions differ for equal values: %s vs %s", viaClient.Revision(), viaAgent.Revision())
	}
	if diff := cmp.Diff(string(viaClient.CanonicalJSON()), string(viaAgent.CanonicalJSON())); diff != "" {
		t.Errorf("CanonicalJSON mismatch (-client +agent):\n%s", diff)
	}
	for range 20 { // map iteration order is random; the revision must not be
		if got, want := Resolve().Revision(), Resolve().Revision(); got != want {
			t.Fatalf("Resolve().Revision() got %s then %s", want, got)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(viaClient.Revision()) {
		t.Errorf("Revision() got %q, want 16 lowercase hex digits", viaClient.Revision())
	}
}

func TestRevisionChangesWithAnyValue(t *testing.T) {
	base := Resolve().Revision()
	seen := map[string]string{base: "builtin"}
	for _, sp := range Specs() {
		var v any
		switch sp.Kind {
		case KindBool:
			v = !sp.Default.(bool)
		case KindInt:
			v = sp.Default.(int64) + 1
		case KindPercent:
			v = sp.Default.(float64) - 0.5
		case KindDuration:
			v = sp.Default.(time.Duration) + time.Second
		case KindSeverity:
			v = SeverityInfo
		case KindMounts:
			v = map[string]DiskLimits{"/": {PercentTrigger: 50, PercentClear: 40}}
		case KindChannels:
			v = []string{}
		case KindText:
			v = "Acme IT"
		case KindServices:
			v = []WatchedService{{Name: "Spooler", Restart: true}}
		case KindLinks:
			v = []Link{{Title: "Portal", URL: "https://portal.example"}}
		case KindSchedules:
			v = []ScheduledScript{{Name: "nightly", ScriptID: "s1", When: "daily 02:30", Enabled: true}}
		}
		rev := Resolve(Assignment{Level: LevelAgent, Document: doc(t, sp.Path, v)}).Revision()
		if sp.ServerOnly {
			// Agents never see it: a change must not push a new revision.
			if rev != base {
				t.Errorf("changing server-only %s gave revision %s, want the built-in %s", sp.Path, rev, base)
			}
			continue
		}
		if prev, dup := seen[rev]; dup {
			t.Errorf("changing %s gave revision %s, same as %s", sp.Path, rev, prev)
		}
		seen[rev] = sp.Path
	}
}

func TestCanonicalJSONShape(t *testing.T) {
	var got map[string]map[string]any
	if err := json.Unmarshal(Resolve().CanonicalJSON(), &got); err != nil {
		t.Fatalf("unmarshal canonical JSON: %v", err)
	}
	if got["metrics"]["interval"] != "1m0s" {
		t.Errorf(`canonical metrics.interval got %v, want "1m0s"`, got["metrics"]["interval"])
	}
	if _, ok := got["notifications"]; ok {
		t.Errorf("canonical JSON holds the server-only notifications section")
	}
	// The canonical form decodes back to the built-in document without its
	// server-only fields.
	d, err := Decode(Resolve().CanonicalJSON())
	if err != nil {
		t.Fatalf("Decode(CanonicalJSON()): %v", err)
	}
	want := Builtin()
	for _, sp := range Specs() {
		if sp.ServerOnly {
			delete(want.values, sp.Path)
		}
	}
	if diff := cmp.Diff(want, d, cmp.AllowUnexported(Document{})); diff != "" {
		t.Errorf("decoded canonical JSON mismatch (-want +got):\n%s", diff)
	}
}

func TestEffectiveValidateAcrossLevels(t *testing.T) {
	// Each document is valid alone; together the site's trigger is below the
	// client's clear level.
	client := Assignment{Level: LevelClient, Document: doc(t, "thresholds.cpu.clear", 85)}
	site := Assignment{Level: LevelSite, Document: doc(t, "thresholds.cpu.trigger", 80)}
	for _, a := range []Assignment{client, site} {
		if errs := Validate(a.Document); errs != nil {
			t.Fatalf("Validate(%v document) got %v, want none", a.Level, errs)
		}
	}
	want := []FieldError{{Path: "thresholds.cpu.clear", Message: "must be below thresholds.cpu.trigger (80)"}}
	if diff := cmp.Diff(want, Resolve(client, site).Validate()); diff != "" {
		t.Errorf("Effective.Validate() mismatch (-want +got):\n%s", diff)
	}
}

func TestEffectiveIsACopy(t *testing.T) {
	mounts := map[string]DiskLimits{"/": {PercentTrigger: 90, PercentClear: 80}}
	d := doc(t, "thresholds.disk_mounts", mounts)
	mounts["/x"] = DiskLimits{}
	eff := Resolve(Assignment{Level: LevelAgent, Document: d})
	v, _ := eff.Get("thresholds.disk_mounts")
	v.Value.(map[string]DiskLimits)["/y"] = DiskLimits{}
	again, _ := eff.Get("thresholds.disk_mounts")
	if got := len(again.Value.(map[string]DiskLimits)); got != 1 {
		t.Errorf("mounts after outside mutation got %d entries, want 1", got)
	}
}
