package tray

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"howett.net/plist"
)

func TestDesktopExecArg(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/usr/local/bin/steward-agent", "/usr/local/bin/steward-agent"},
		{"/opt/My Steward/steward-agent", `"/opt/My Steward/steward-agent"`},
		{"/opt/100%/steward-agent", "/opt/100%%/steward-agent"},
		{`/opt/a"b $c/x`, `"/opt/a\\"b \\$c/x"`},
		{`/opt/back\slash/x`, `"/opt/back\\\\slash/x"`},
	}
	for _, tt := range tests {
		if got := desktopExecArg(tt.in); got != tt.want {
			t.Errorf("desktopExecArg(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDesktopEntry(t *testing.T) {
	if _, err := desktopEntry("steward-agent"); err == nil {
		t.Error("desktopEntry accepted a relative path")
	}
	if _, err := desktopEntry("/usr/bin/x\nExec=evil"); err == nil {
		t.Error("desktopEntry accepted a path with a newline")
	}
	b, err := desktopEntry("/opt/My Steward/steward-agent")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"[Desktop Entry]\n", "\nType=Application\n", "\nExec=\"/opt/My Steward/steward-agent\" tray\n",
		"\nTryExec=/opt/My Steward/steward-agent\n", "\nNoDisplay=true\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("desktop entry lacks %q:\n%s", want, s)
		}
	}
	// desktop-file-validate (Debian desktop-file-utils) checks it against
	// the specification when it is installed.
	if v, err := exec.LookPath("desktop-file-validate"); err == nil {
		dir := t.TempDir()
		p := filepath.Join(dir, "steward-agent-tray.desktop")
		if _, err := writeFileIfChanged(p, b); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(v, p).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("desktop-file-validate: %v\n%s", err, out)
		}
	}
}

func TestLaunchAgentPlist(t *testing.T) {
	if _, err := launchAgentPlist("steward-agent"); err == nil {
		t.Error("launchAgentPlist accepted a relative path")
	}
	b, err := launchAgentPlist("/Library/Steward & Co/<steward-agent>")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Label                  string
		ProgramArguments       []string
		RunAtLoad              bool
		KeepAlive              map[string]bool
		LimitLoadToSessionType string
		ProcessType            string
	}
	if _, err := plist.Unmarshal(b, &got); err != nil {
		t.Fatalf("the plist does not parse: %v\n%s", err, b)
	}
	if got.Label != "com.steward.agent.tray" || !got.RunAtLoad || got.LimitLoadToSessionType != "Aqua" ||
		got.ProcessType != "Interactive" || got.KeepAlive["SuccessfulExit"] || len(got.KeepAlive) != 1 {
		t.Errorf("plist = %+v", got)
	}
	if diff := cmp.Diff([]string{"/Library/Steward & Co/<steward-agent>", "tray"}, got.ProgramArguments); diff != "" {
		t.Errorf("ProgramArguments (-want +got):\n%s", diff)
	}
}
