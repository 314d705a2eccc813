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
	for i, want := range []bool{true, false} {
		changed, err := a.Install(bin)
		if err != nil {
			t.Fatalf("install %d: %v", i, err)
		}
		if changed != want {
			t.Errorf("install %d: changed %v, want %v", i, changed, want)
		}
	}
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
	for i, want := range []bool{true, false} {
		changed, err := a.Remove()
		if err != nil {
			t.Fatalf("remove %d: %v", i, err)
		}
		if changed != want {
			t.Errorf("remove %d: changed %v, want %v", i, changed, want)
		}
	}
	if _, err := (Autostart{Root: root + `\missing`}).Remove(); err != nil {
		t.Errorf("remove under a missing key: %v", err)
	}
}
