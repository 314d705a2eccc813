package tray

import (
	"path/filepath"
	"testing"

	"golang.org/x/sys/windows/registry"
)

func TestAutostartRunValue(t *testing.T) {
	root := `SOFTWARE\StewardTest-` + filepath.Base(t.TempDir())
	t.Cleanup(func() {
		for _, k := range []string{runKey, `Microsoft\Windows\CurrentVersion`, `Microsoft\Windows`, `Microsoft`, ""} {
			p := root
			if k != "" {
				p += `\` + k
			}
			registry.DeleteKey(registry.LOCAL_MACHINE, p)
		}
	})
	a := Autostart{Root: root}
	bin := `C:\Program Files\Steward\steward-agent.exe`
	checkTwice(t, "install", func() (bool, error) { return a.Install(bin) })
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, a.key(), registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		t.Fatalf("open the Run key: %v", err)
	}
	v, typ, err := k.GetStringValue(runValue)
	k.Close()
	if err != nil || typ != registry.SZ {
		t.Fatalf("read %s: %q type %d, %v", runValue, v, typ, err)
	}
	if want := `"C:\Program Files\Steward\steward-agent.exe" tray`; v != want {
		t.Errorf("%s = %q, want %q", runValue, v, want)
	}
	checkTwice(t, "remove", a.Remove)
	if _, err := (Autostart{Root: root + `\missing`}).Remove(); err != nil {
		t.Errorf("remove under a missing key: %v", err)
	}
}
