package tray

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestLogFileRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "tray.log")
	l, err := OpenLog(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	line := bytes.Repeat([]byte("a"), 39)
	line = append(line, '\n')
	for i := range 7 {
		if n, err := l.Write(line); n != len(line) || err != nil {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	// 7 lines of 40 bytes with a 100-byte limit: two in each rotated file,
	// the last one alone in the current file.
	for name, want := range map[string]int{path: 40, path + ".1": 80} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != int64(want) {
			t.Errorf("%s is %d bytes, want %d", filepath.Base(name), fi.Size(), want)
		}
	}
	if _, err := os.Stat(path + ".2"); err == nil {
		t.Error("a third log file exists; the log must stay at two files")
	}

	// One write larger than the limit keeps its end.
	big := append(bytes.Repeat([]byte("b"), 150), []byte("END\n")...)
	if n, err := l.Write(big); n != len(big) || err != nil {
		t.Fatalf("big write: %d, %v", n, err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 100 || !bytes.HasSuffix(got, []byte("END\n")) {
		t.Errorf("after a big write the log is %d bytes ending %q, want 100 ending END", len(got), got[len(got)-4:])
	}
}

func TestLogFileAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tray.log")
	for _, s := range []string{"one\n", "two\n"} {
		l, err := OpenLog(path, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := os.ReadFile(path); string(got) != "one\ntwo\n" {
		t.Errorf("log holds %q, want both runs appended", got)
	}
}
