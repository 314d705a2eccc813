package script

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
)

// TestMain doubles as a helper process for the tree-kill tests: with
// STEWARD_SCRIPT_SLEEPER set it writes its pid there and sleeps.
func TestMain(m *testing.M) {
	if p := os.Getenv("STEWARD_SCRIPT_SLEEPER"); p != "" {
		os.WriteFile(p, []byte(strconv.Itoa(os.Getpid())), 0o600)
		time.Sleep(5 * time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// recorder keeps what a run's Events report.
type recorder struct {
	mu      sync.Mutex
	started []time.Time
	chunks  map[string][]protocol.ScriptOutput
	// onOutput, if set, is called with each chunk.
	onOutput func(protocol.ScriptOutput)
}

func (rec *recorder) events() Events {
	return Events{
		Started: func(at time.Time) {
			rec.mu.Lock()
			rec.started = append(rec.started, at)
			rec.mu.Unlock()
		},
		Output: func(o protocol.ScriptOutput) {
			rec.mu.Lock()
			if rec.chunks == nil {
				rec.chunks = map[string][]protocol.ScriptOutput{}
			}
			rec.chunks[o.Stream] = append(rec.chunks[o.Stream], o)
			f := rec.onOutput
			rec.mu.Unlock()
			if f != nil {
				f(o)
			}
		},
	}
}

// joined checks a stream's chunks run on from offset 0 with no gap and
// no chunk over protocol.MaxScriptChunk, and returns their bytes.
func (rec *recorder) joined(t *testing.T, stream string) []byte {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var b []byte
	for i, c := range rec.chunks[stream] {
		if c.Offset != int64(len(b)) {
			t.Fatalf("%s chunk %d at offset %d, want %d", stream, i, c.Offset, len(b))
		}
		if len(c.Data) == 0 || len(c.Data) > protocol.MaxScriptChunk {
			t.Fatalf("%s chunk %d has %d bytes, want 1..%d", stream, i, len(c.Data), protocol.MaxScriptChunk)
		}
		b = append(b, c.Data...)
	}
	return b
}

func newRunner(t *testing.T) *Runner {
	t.Helper()
	r, err := New(filepath.Join(t.TempDir(), "scripts"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

func scriptRun(lang, body string, args ...string) protocol.ScriptRun {
	return protocol.ScriptRun{Language: lang, Body: body, SHA256: protocol.ScriptSHA256(body), Args: args,
		Timeout: protocol.Duration(time.Minute)}
}

// run runs s as id and returns its result and events.
func run(t *testing.T, r *Runner, id string, s protocol.ScriptRun) (protocol.ScriptResult, *recorder, error) {
	t.Helper()
	rec := &recorder{}
	res, err := r.Run(t.Context(), id, s, rec.events())
	return res, rec, err
}

// output re-reads a stream from the spool.
func output(t *testing.T, r *Runner, id, stream string, offset int64) []byte {
	t.Helper()
	var b []byte
	err := r.Output(id, stream, offset, func(o protocol.ScriptOutput) error {
		if o.Offset != offset+int64(len(b)) || len(o.Data) > protocol.MaxScriptChunk {
			t.Fatalf("re-sent chunk at %d with %d bytes, want offset %d", o.Offset, len(o.Data), offset+int64(len(b)))
		}
		b = append(b, o.Data...)
		return nil
	})
	if err != nil {
		t.Fatalf("Output(%s, %s, %d): %v", id, stream, offset, err)
	}
	return b
}

// runsLeft lists what is left in the runner's run directory.
func runsLeft(t *testing.T, r *Runner) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(r.dir, "runs"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestMissingInterpreter(t *testing.T) {
	r := newRunner(t)
	r.lookPath = func(string) (string, error) { return "", errors.New("not found") }
	for lang, want := range map[string]string{
		protocol.LangBash:   "no bash on this machine",
		protocol.LangPython: "no python3 or python on this machine",
	} {
		start := time.Now()
		_, rec, err := run(t, r, "c-"+lang, scriptRun(lang, "exit 0"))
		if !errors.Is(err, ErrNoInterpreter) || !strings.Contains(err.Error(), want) {
			t.Errorf("Run(%s) got error %v, want ErrNoInterpreter saying %q", lang, err, want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Run(%s) took %v to fail, want at once", lang, d)
		}
		if len(rec.started) != 0 {
			t.Errorf("Run(%s) reported a start", lang)
		}
	}
	if got := runsLeft(t, r); len(got) != 0 {
		t.Errorf("run directories left: %v", got)
	}
}

func TestOutputUnknownRun(t *testing.T) {
	r := newRunner(t)
	err := r.Output("nope", protocol.StreamStdout, 0, func(protocol.ScriptOutput) error { return nil })
	if !errors.Is(err, ErrNoOutput) {
		t.Errorf("Output of an unknown run got %v, want ErrNoOutput", err)
	}
}

func TestSpoolBounds(t *testing.T) {
	dir := t.TempDir()
	sp, err := openSpool(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxSpoolRuns + 1 {
		id := fmt.Sprintf("c%d", i)
		f, err := sp.create(id)
		if err != nil {
			t.Fatal(err)
		}
		f[0].WriteString(id)
		f[0].Close()
		f[1].Close()
		sp.finish(id)
	}
	running, err := sp.create("running")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.open("c0", protocol.StreamStdout); !errors.Is(err, ErrNoOutput) {
		t.Errorf("oldest run past %d kept (open got %v), want dropped", maxSpoolRuns, err)
	}
	// A new process keeps the finished runs and drops the one cut short.
	running[0].Close()
	running[1].Close()
	sp2, err := openSpool(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	f, err := sp2.open("c1", protocol.StreamStdout)
	if err != nil {
		t.Fatalf("finished run not kept across a restart: %v", err)
	}
	f.Close()
	if _, err := sp2.open("running", protocol.StreamStdout); !errors.Is(err, ErrNoOutput) {
		t.Errorf("run cut short by a restart kept (open got %v), want dropped", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != maxSpoolRuns {
		t.Errorf("spool holds %d runs, want %d", len(entries), maxSpoolRuns)
	}
}

// checkArgs compares the NUL-separated arguments a script printed.
func checkArgs(t *testing.T, got []byte, want []string) {
	t.Helper()
	parts := strings.Split(string(bytes.TrimSuffix(got, []byte{0})), "\x00")
	if diff := cmp.Diff(want, parts); diff != "" {
		t.Errorf("arguments the script saw (-want +got):\n%s", diff)
	}
}

// tricky are arguments a shell string would mangle.
var tricky = []string{
	`it's "quoted"`, "two  spaces", "semi;colon && echo injected", "ünïcödé 日本語",
	`$HOME`, "*", `back\slash\`, "-n", "new\nline", "`id`", "$(id)", "",
}

// readPID waits for the pid file a script's child writes.
func readPID(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) > 0 {
			return string(bytes.TrimSpace(b))
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
