package service

import (
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var macSpec = Spec{Binary: "/Library/Steward/steward-agent", Config: "/Library/Application Support/Steward/agent.json"}

func TestLaunchdPlistGolden(t *testing.T) {
	for _, r := range Roles() {
		golden(t, LaunchdLabel(r)+".plist", LaunchdPlist(r, macSpec))
	}
}

// plistValue decodes the top-level dict of a plist into key → value text,
// with arrays as their strings joined by "|", so the test reads what
// launchd would (plutil is not available on Linux).
func plistValues(t *testing.T, text string) map[string]string {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(text))
	dec.Strict = true
	vals := map[string]string{}
	var key string
	depth := 0
	var arr []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("plist is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case el.Name.Local == "key" && depth == 3:
				var k string
				if err := dec.DecodeElement(&k, &el); err != nil {
					t.Fatal(err)
				}
				key = k
				depth--
			case depth == 3 && (el.Name.Local == "true" || el.Name.Local == "false"):
				vals[key] = el.Name.Local
			case depth == 3 && (el.Name.Local == "string" || el.Name.Local == "integer"):
				var v string
				if err := dec.DecodeElement(&v, &el); err != nil {
					t.Fatal(err)
				}
				vals[key] = v
				depth--
			case depth == 4 && el.Name.Local == "string":
				var v string
				if err := dec.DecodeElement(&v, &el); err != nil {
					t.Fatal(err)
				}
				arr = append(arr, v)
				depth--
			}
		case xml.EndElement:
			if depth == 3 && el.Name.Local == "array" {
				vals[key] = strings.Join(arr, "|")
				arr = nil
			}
			depth--
		}
	}
	return vals
}

func TestLaunchdPlistValues(t *testing.T) {
	spec := Spec{Binary: "/Library/Steward & Co/steward-agent", Config: "/Library/Application Support/<Steward>/agent.json"}
	got := plistValues(t, LaunchdPlist(Watchdog, spec))
	want := map[string]string{
		"Label":             "com.steward.agent.watchdog",
		"ProgramArguments":  spec.Binary + "|watchdog|--config|" + spec.Config,
		"RunAtLoad":         "true",
		"KeepAlive":         "true",
		"ThrottleInterval":  "10",
		"ExitTimeOut":       "30",
		"StandardErrorPath": "/Library/Logs/Steward/watchdog.log",
	}
	if diff := cmp.Diff(want, got, cmpIgnoreKey("SoftResourceLimits")); diff != "" {
		t.Errorf("plist values (-want +got):\n%s", diff)
	}
}

func cmpIgnoreKey(k string) cmp.Option {
	return cmp.FilterPath(func(p cmp.Path) bool {
		mi, ok := p.Last().(cmp.MapIndex)
		return ok && mi.Key().String() == k
	}, cmp.Ignore())
}

// TestPlutilLint runs Apple's checker where it exists (macOS only; it is
// not available on Linux CI).
func TestPlutilLint(t *testing.T) {
	if _, err := exec.LookPath("plutil"); err != nil {
		t.Skip("plutil is not available (macOS only)")
	}
	for _, r := range Roles() {
		p := filepath.Join(t.TempDir(), LaunchdLabel(r)+".plist")
		if err := os.WriteFile(p, []byte(LaunchdPlist(r, macSpec)), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("plutil", "-lint", p).CombinedOutput(); err != nil {
			t.Errorf("plutil -lint %s: %v\n%s", p, err, out)
		}
	}
}

func TestParseLaunchctlPrint(t *testing.T) {
	running := "system/com.steward.agent = {\n\tactive count = 1\n\tpath = /Library/LaunchDaemons/com.steward.agent.plist\n\tstate = running\n\n\tprogram = /Library/Steward/steward-agent\n\tpid = 812\n\tlast exit code = (never exited)\n}\n"
	waiting := "system/com.steward.agent = {\n\tstate = spawn scheduled\n\tlast exit code = 1\n}\n"
	tests := []struct {
		out  string
		want State
	}{
		{running, State{Installed: true, Running: true, PID: 812, Detail: "state = running"}},
		{waiting, State{Installed: true, Detail: "state = spawn scheduled"}},
	}
	for _, tt := range tests {
		if got := parseLaunchctlPrint(State{}, tt.out); got != tt.want {
			t.Errorf("parseLaunchctlPrint(%q) = %+v, want %+v", tt.out, got, tt.want)
		}
	}
}
