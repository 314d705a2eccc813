package update

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

var (
	releasePriv = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	otherPriv   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, 32))
	trusted     = []protocol.ReleaseKey{protocol.NewReleaseKey(releasePriv.Public().(ed25519.PublicKey))}
)

// releaseServer serves release files as the server's gateway does: with
// the agent's credentials, ranges and If-Range on the SHA-256.
type releaseServer struct {
	*httptest.Server
	mu       sync.Mutex
	files    map[string][]byte // release ID → bytes served
	ranges   []string          // Range headers seen
	busy     bool
	gone     map[string]string // release ID → the server's reason
	lastAuth string
}

func newReleaseServer(t *testing.T) *releaseServer {
	rs := &releaseServer{files: map[string][]byte{}, gone: map[string]string{}}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		rs.lastAuth = r.Header.Get("Authorization")
		rs.ranges = append(rs.ranges, r.Header.Get("Range"))
		busy := rs.busy
		data, ok := rs.files[strings.TrimPrefix(r.URL.Path, protocol.ReleaseFilePath)]
		gone, isGone := rs.gone[strings.TrimPrefix(r.URL.Path, protocol.ReleaseFilePath)]
		rs.mu.Unlock()
		if r.Header.Get("Authorization") != "Agent a.s" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		if busy {
			w.Header().Set("Retry-After", "7")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if isGone {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusGone)
			json.NewEncoder(w).Encode(protocol.ErrorResponse{Error: gone})
			return
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		sum := sha256.Sum256(data)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *releaseServer) setBusy(b bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.busy = b
}

// lastRange is the Range header of the last request, "none" before any.
func (rs *releaseServer) lastRange() string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.ranges) == 0 {
		return "none"
	}
	return rs.ranges[len(rs.ranges)-1]
}

func (rs *releaseServer) serve(id string, data []byte) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.files[id] = data
}

func offerFor(t *testing.T, priv ed25519.PrivateKey, id, version, goos, goarch string, data []byte) protocol.UpdateOffer {
	t.Helper()
	sum := sha256.Sum256(data)
	s, err := protocol.SignRelease(priv, protocol.ReleaseStatement{Version: version, OS: goos, Arch: goarch,
		Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		t.Fatal(err)
	}
	return protocol.UpdateOffer{ReleaseID: id, Release: s}
}

type fixture struct {
	u       *Updater
	rs      *releaseServer
	mu      sync.Mutex
	reports []protocol.UpdateStatus
	now     time.Time
}

func (f *fixture) steps() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.reports {
		out = append(out, r.Step)
	}
	return out
}

func (f *fixture) last() protocol.UpdateStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reports[len(f.reports)-1]
}

// newFixture installs a binary holding "version A" and an updater running
// as version 1.0.0 whose self-check reads the version from the staged file.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "steward-agent")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	os.MkdirAll(filepath.Dir(bin), 0o755)
	if err := os.WriteFile(bin, []byte("version 1.0.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	f := &fixture{rs: newReleaseServer(t), now: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	f.u = &Updater{
		Binary: bin, Dir: filepath.Join(dir, "update"), Config: filepath.Join(dir, "agent.json"),
		Version: "1.0.0", GOOS: "linux", GOARCH: "amd64", Keys: trusted,
		ServerURL: f.rs.URL, Authorization: "Agent a.s",
		Report: func(s protocol.UpdateStatus) { f.mu.Lock(); f.reports = append(f.reports, s); f.mu.Unlock() },
		Log:    slog.New(slog.DiscardHandler),
		Now:    func() time.Time { return f.now },
		SelfCheck: func(_ context.Context, binary, _ string) (string, error) {
			b, err := os.ReadFile(binary)
			if err != nil {
				return "", err
			}
			if bytes.HasPrefix(b, []byte("broken")) {
				return "panic: at start", errors.New("exit status 2")
			}
			return strings.TrimPrefix(string(b), "version "), nil
		},
	}
	return f
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

func TestApplyConfirm(t *testing.T) {
	f := newFixture(t)
	newBin := []byte("version 1.1.0")
	f.rs.serve("r1", newBin)
	offer := offerFor(t, releasePriv, "r1", "1.1.0", "linux", "amd64", newBin)
	if err := f.u.Apply(t.Context(), offer); !errors.Is(err, ErrRestart) {
		t.Fatalf("Apply = %v, want ErrRestart", err)
	}
	if got := read(t, f.u.Binary); got != "version 1.1.0" {
		t.Fatalf("binary holds %q after the swap", got)
	}
	if got := read(t, backupPath(f.u.Binary)); got != "version 1.0.0" {
		t.Fatalf("backup holds %q", got)
	}
	if _, err := os.Stat(stagedPath(f.u.Binary)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staged file left: %v", err)
	}
	if got := strings.Join(f.steps(), ","); got != "downloading,verified,swapped" {
		t.Errorf("steps %s", got)
	}

	// The new version starts: it says so in its hello.
	f.u.Version = "1.1.0"
	pending, rolled, err := f.u.Started()
	if err != nil || rolled != nil || pending == nil || pending.ReleaseID != "r1" || pending.FromVersion != "1.0.0" || pending.ToVersion != "1.1.0" {
		t.Fatalf("Started = %+v, %+v, %v", pending, rolled, err)
	}
	if why, due := f.u.RollbackDue(f.now.Add(time.Minute)); due {
		t.Fatalf("rollback due a minute after the swap: %s", why)
	}
	if err := f.u.Confirmed("r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(backupPath(f.u.Binary)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("backup left after confirmation: %v", err)
	}
	if entries, _ := os.ReadDir(f.u.Dir); len(entries) != 1 {
		t.Errorf("update directory holds %d entries after confirmation, want the state only", len(entries))
	}
	if last := f.last(); last.Step != protocol.UpdateConfirmed || last.ToVersion != "1.1.0" {
		t.Errorf("last report %+v", last)
	}
	st, _ := LoadState(f.u.Dir)
	if st.Pending != nil {
		t.Errorf("pending after confirmation: %+v", st.Pending)
	}
	if p, _, _ := f.u.Started(); p != nil {
		t.Errorf("a start after confirmation still reports %+v", p)
	}
}

func TestRefusals(t *testing.T) {
	data := []byte("version 1.1.0")
	tests := []struct {
		name  string
		offer func(t *testing.T) protocol.UpdateOffer
		state State
		want  string
	}{
		{"unsigned", func(t *testing.T) protocol.UpdateOffer {
			o := offerFor(t, releasePriv, "r", "1.1.0", "linux", "amd64", data)
			o.Release.Signature = nil
			return o
		}, State{}, "not signed"},
		{"untrusted key", func(t *testing.T) protocol.UpdateOffer {
			return offerFor(t, otherPriv, "r", "1.1.0", "linux", "amd64", data)
		}, State{}, "not trusted"},
		{"statement changed", func(t *testing.T) protocol.UpdateOffer {
			o := offerFor(t, releasePriv, "r", "1.1.0", "linux", "amd64", data)
			o.Release.Statement.Version = "9.9.9"
			return o
		}, State{}, "does not verify"},
		{"wrong arch", func(t *testing.T) protocol.UpdateOffer {
			return offerFor(t, releasePriv, "r", "1.1.0", "linux", "arm64", data)
		}, State{}, "for linux/arm64"},
		{"wrong os", func(t *testing.T) protocol.UpdateOffer {
			return offerFor(t, releasePriv, "r", "1.1.0", "windows", "amd64", data)
		}, State{}, "for windows/amd64"},
		{"same version", func(t *testing.T) protocol.UpdateOffer {
			return offerFor(t, releasePriv, "r", "1.0.0", "linux", "amd64", data)
		}, State{}, "not newer"},
		{"downgrade", func(t *testing.T) protocol.UpdateOffer {
			return offerFor(t, releasePriv, "r", "0.9.0", "linux", "amd64", data)
		}, State{}, "not newer"},
		{"failed before", func(t *testing.T) protocol.UpdateOffer {
			return offerFor(t, releasePriv, "r", "1.1.0", "linux", "amd64", data)
		}, State{Failed: map[string]string{"1.1.0": "crashed"}}, "failed here before (crashed)"},
		{"pending", func(t *testing.T) protocol.UpdateOffer {
			return offerFor(t, releasePriv, "r", "1.1.0", "linux", "amd64", data)
		}, State{Pending: &Pending{Phase: PhaseSwapped, ToVersion: "1.0.5"}}, "1.0.5 is still swapped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.rs.serve("r", data)
			if err := SaveState(f.u.Dir, tt.state); err != nil {
				t.Fatal(err)
			}
			err := f.u.Apply(t.Context(), tt.offer(t))
			var refused *Refused
			if !errors.As(err, &refused) || !strings.Contains(refused.Reason, tt.want) {
				t.Fatalf("Apply = %v, want a refusal saying %q", err, tt.want)
			}
			if last := f.last(); last.Step != protocol.UpdateRefused || last.Reason != refused.Reason {
				t.Errorf("reported %+v", last)
			}
			if got := read(t, f.u.Binary); got != "version 1.0.0" {
				t.Errorf("binary changed to %q", got)
			}
			if f.rs.lastRange() != "none" {
				t.Errorf("downloaded although refused")
			}
		})
	}
	// A version that failed is taken when the offer asks to retry.
	f := newFixture(t)
	f.rs.serve("r", data)
	SaveState(f.u.Dir, State{Failed: map[string]string{"1.1.0": "crashed"}})
	o := offerFor(t, releasePriv, "r", "1.1.0", "linux", "amd64", data)
	o.Retry = true
	if err := f.u.Apply(t.Context(), o); !errors.Is(err, ErrRestart) {
		t.Fatalf("retry: %v", err)
	}
}

func TestFailuresLeaveTheAgentAsItWas(t *testing.T) {
	good := []byte("version 1.1.0")
	tests := []struct {
		name   string
		served []byte
		signed []byte
		want   string
	}{
		{"tampered download", []byte("version 6.6.6"), good, "verify: SHA-256"},
		{"short download", good[:5], good, "verify: downloaded 5 bytes"},
		{"self-check fails", []byte("broken 1.1.0!"), []byte("broken 1.1.0!"), "self-check: exit status 2"},
		{"self-check says another version", []byte("version 1.2.0"), []byte("version 1.2.0"), `says it is "1.2.0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.rs.serve("r", tt.served)
			err := f.u.Apply(t.Context(), offerFor(t, releasePriv, "r", "1.1.0", "linux", "amd64", tt.signed))
			if err == nil || errors.Is(err, ErrRestart) {
				t.Fatalf("Apply = %v", err)
			}
			if last := f.last(); last.Step != protocol.UpdateFailed || !strings.Contains(last.Reason, tt.want) {
				t.Errorf("reported %+v, want failed saying %q", last, tt.want)
			}
			if got := read(t, f.u.Binary); got != "version 1.0.0" {
				t.Errorf("binary changed to %q", got)
			}
			for _, p := range []string{stagedPath(f.u.Binary), backupPath(f.u.Binary)} {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left behind", p)
				}
			}
			if st, _ := LoadState(f.u.Dir); st.Pending != nil {
				t.Errorf("pending after a failure: %+v", st.Pending)
			}
		})
	}
}

func TestDownloadResumesAndBacksOff(t *testing.T) {
	f := newFixture(t)
	data := bytes.Repeat([]byte("0123456789"), 10000)
	data = append([]byte("version 1.1.0"), data...)
	f.rs.serve("r", data)
	offer := offerFor(t, releasePriv, "r", "1.1.0", "linux", "amd64", data)
	f.u.SelfCheck = func(context.Context, string, string) (string, error) { return "1.1.0", nil }

	f.rs.setBusy(true)
	var busy *Busy
	if err := f.u.Apply(t.Context(), offer); !errors.As(err, &busy) || busy.Wait != 7*time.Second {
		t.Fatalf("Apply on a busy server = %v, want Busy 7s", err)
	}
	f.rs.setBusy(false)

	// Half of it came before the link broke.
	os.MkdirAll(f.u.Dir, 0o700)
	os.WriteFile(f.u.partPath(offer.Release.Statement), data[:len(data)/2], 0o600)
	if err := f.u.Apply(t.Context(), offer); !errors.Is(err, ErrRestart) {
		t.Fatalf("resumed Apply = %v", err)
	}
	if got := f.rs.lastRange(); got != "bytes=50006-" {
		t.Errorf("resumed with Range %q, want bytes=50006-", got)
	}
	if !bytes.Equal([]byte(read(t, f.u.Binary)), data) {
		t.Error("resumed download differs")
	}
	var progress int
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.reports {
		if r.Step == protocol.UpdateDownloading && r.Total == int64(len(data)) {
			progress++
		}
	}
	if progress < 2 {
		t.Errorf("%d downloading reports, want progress beyond the first", progress)
	}
}

// TestCalledBack: an offer the server called back (its rollout halted)
// is dropped when the download is refused as gone: reported cancelled,
// not failed, and the version not marked as failed here.
func TestCalledBack(t *testing.T) {
	f := newFixture(t)
	data := []byte("version 1.1.0")
	f.rs.serve("r", data)
	offer := offerFor(t, releasePriv, "r", "1.1.0", "linux", "amd64", data)
	before := read(t, f.u.Binary)
	// A part left by an earlier attempt goes too.
	os.MkdirAll(f.u.Dir, 0o700)
	os.WriteFile(f.u.partPath(offer.Release.Statement), data[:3], 0o600)
	f.rs.mu.Lock()
	f.rs.gone["r"] = "the offer of 1.1.0 was called back: its rollout was halted"
	f.rs.mu.Unlock()

	var cancelled *Cancelled
	if err := f.u.Apply(t.Context(), offer); !errors.As(err, &cancelled) || !strings.Contains(cancelled.Reason, "halted") {
		t.Fatalf("Apply = %v, want Cancelled with the server's reason", err)
	}
	if last := f.last(); last.Step != protocol.UpdateCancelled || !strings.Contains(last.Reason, "halted") {
		t.Errorf("last report %+v, want cancelled with the reason", last)
	}
	if read(t, f.u.Binary) != before {
		t.Error("the installed binary changed")
	}
	if _, err := os.Stat(f.u.partPath(offer.Release.Statement)); !os.IsNotExist(err) {
		t.Errorf("the partial download is still there: %v", err)
	}
	st, err := LoadState(f.u.Dir)
	if err != nil || st.Pending != nil || len(st.Failed) != 0 {
		t.Errorf("state %+v (%v), want nothing pending or failed", st, err)
	}
	// Offered again later (the rollout resumed), it installs.
	f.rs.mu.Lock()
	delete(f.rs.gone, "r")
	f.rs.mu.Unlock()
	f.u.SelfCheck = func(context.Context, string, string) (string, error) { return "1.1.0", nil }
	if err := f.u.Apply(t.Context(), offer); !errors.Is(err, ErrRestart) {
		t.Fatalf("Apply after the resume = %v", err)
	}
}

func TestRollback(t *testing.T) {
	f := newFixture(t)
	newBin := []byte("version 1.1.0")
	f.rs.serve("r1", newBin)
	offer := offerFor(t, releasePriv, "r1", "1.1.0", "linux", "amd64", newBin)
	offer.ConfirmDeadline = protocol.Duration(2 * time.Minute)
	if err := f.u.Apply(t.Context(), offer); !errors.Is(err, ErrRestart) {
		t.Fatal(err)
	}
	if _, due := f.u.RollbackDue(f.now.Add(119 * time.Second)); due {
		t.Fatal("rollback due before the deadline")
	}
	why, due := f.u.RollbackDue(f.now.Add(121 * time.Second))
	if !due || !strings.Contains(why, "not confirmed by the server within 2m0s") {
		t.Fatalf("RollbackDue after the deadline = %q, %v", why, due)
	}
	if err := f.u.Rollback(why); err != nil {
		t.Fatal(err)
	}
	if got := read(t, f.u.Binary); got != "version 1.0.0" {
		t.Fatalf("binary after rollback: %q", got)
	}
	// The old version starts and reports the rollback once.
	pending, rolled, err := f.u.Started()
	if err != nil || pending != nil || rolled == nil || rolled.Step != protocol.UpdateRolledBack || rolled.Reason != why || rolled.ToVersion != "1.1.0" {
		t.Fatalf("Started after rollback = %+v, %+v, %v", pending, rolled, err)
	}
	if err := f.u.RolledBackReported("r1"); err != nil {
		t.Fatal(err)
	}
	if _, rolled, _ := f.u.Started(); rolled != nil {
		t.Error("rollback reported twice")
	}
	// Not taken again unless asked.
	var refused *Refused
	if err := f.u.Apply(t.Context(), offer); !errors.As(err, &refused) {
		t.Fatalf("offer of the failed version: %v", err)
	}
}

func TestRollbackAfterTooManyStarts(t *testing.T) {
	f := newFixture(t)
	newBin := []byte("version 1.1.0")
	f.rs.serve("r1", newBin)
	if err := f.u.Apply(t.Context(), offerFor(t, releasePriv, "r1", "1.1.0", "linux", "amd64", newBin)); !errors.Is(err, ErrRestart) {
		t.Fatal(err)
	}
	f.u.Version = "1.1.0"
	for i := 0; i <= MaxStartsUnconfirmed; i++ {
		if _, due := f.u.RollbackDue(f.now); due {
			t.Fatalf("rollback due after %d starts", i)
		}
		f.u.Started()
	}
	why, due := f.u.RollbackDue(f.now)
	if !due || !strings.Contains(why, "started 4 times") {
		t.Fatalf("RollbackDue = %q %v", why, due)
	}
}

// TestInterruptedSwap: a kill between the two renames leaves no binary in
// place; whoever comes next puts the previous one back. A kill after them
// counts as swapped.
func TestInterruptedSwap(t *testing.T) {
	for _, tt := range []struct {
		name       string
		binaryIs   string // "" missing
		wantBinary string
		wantPhase  string
	}{
		{"binary missing", "", "version 1.0.0", ""},
		{"old binary still there", "version 1.0.0", "version 1.0.0", ""},
		{"new binary in place", "version 1.1.0", "version 1.1.0", PhaseSwapped},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			sum := sha256.Sum256([]byte("version 1.1.0"))
			backup := backupPath(f.u.Binary)
			if tt.binaryIs == "" {
				os.Rename(f.u.Binary, backup)
			} else {
				os.WriteFile(backup, []byte("version 1.0.0"), 0o755)
				os.WriteFile(f.u.Binary, []byte(tt.binaryIs), 0o755)
			}
			SaveState(f.u.Dir, State{Pending: &Pending{Phase: PhaseSwapping, ReleaseID: "r1", FromVersion: "1.0.0",
				ToVersion: "1.1.0", ToSHA256: hex.EncodeToString(sum[:]), Backup: backup}})
			if tt.binaryIs == "" {
				if _, due := f.u.RollbackDue(f.now); !due {
					t.Fatal("a missing binary does not make the watchdog act")
				}
			}
			if _, _, err := f.u.Started(); err != nil {
				t.Fatal(err)
			}
			if got := read(t, f.u.Binary); got != tt.wantBinary {
				t.Errorf("binary %q, want %q", got, tt.wantBinary)
			}
			if phase := pendingPhase(t, f.u.Dir); phase != tt.wantPhase {
				t.Errorf("phase %q, want %q", phase, tt.wantPhase)
			}
		})
	}
}

func TestStateSurvivesGarbage(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, stateFile), []byte("{not json"), 0o600)
	if _, err := LoadState(dir); err == nil {
		t.Fatal("garbage state loaded")
	}
	if err := SaveState(dir, State{Failed: map[string]string{"1.0.0": "x"}}); err != nil {
		t.Fatal(err)
	}
	st, err := LoadState(dir)
	if err != nil || st.Failed["1.0.0"] != "x" {
		t.Fatalf("LoadState = %+v, %v", st, err)
	}
}

// TestRollbackInstruction: an older release is taken only with a signed
// rollback instruction for exactly that release.
func TestRollbackInstruction(t *testing.T) {
	old := []byte("version 0.9.0")
	other := []byte("version 0.9.0 rebuilt")
	mk := func(priv ed25519.PrivateKey, data []byte) *protocol.SignedRollback {
		sum := sha256.Sum256(data)
		rb, err := protocol.SignRollback(priv, protocol.ReleaseStatement{Version: "0.9.0", OS: "linux", Arch: "amd64", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
		if err != nil {
			t.Fatal(err)
		}
		return &rb
	}
	for _, tt := range []struct {
		name     string
		rollback *protocol.SignedRollback
		want     string // "" accepted
	}{
		{"none", nil, "no signed rollback instruction"},
		{"for another build", mk(releasePriv, other), "names 0.9.0 linux/amd64, not this release"},
		{"untrusted key", mk(otherPriv, old), "not trusted"},
		{"valid", mk(releasePriv, old), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.rs.serve("r", old)
			offer := offerFor(t, releasePriv, "r", "0.9.0", "linux", "amd64", old)
			offer.Rollback = tt.rollback
			err := f.u.Apply(t.Context(), offer)
			if tt.want == "" {
				if !errors.Is(err, ErrRestart) {
					t.Fatalf("Apply with a valid rollback instruction = %v", err)
				}
				if got := read(t, f.u.Binary); got != "version 0.9.0" {
					t.Errorf("binary %q after the rollback", got)
				}
				return
			}
			var refused *Refused
			if !errors.As(err, &refused) || !strings.Contains(refused.Reason, tt.want) {
				t.Fatalf("Apply = %v, want a refusal saying %q", err, tt.want)
			}
		})
	}
}

// TestOfferKeyStatements: a release signed by a key the agent does not
// have built in is taken when the offer carries a statement adding it,
// signed by a key the agent trusts; not when the statement's signer is
// unknown.
func TestOfferKeyStatements(t *testing.T) {
	newPriv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{31}, 32))
	newKey := protocol.NewReleaseKey(newPriv.Public().(ed25519.PublicKey))
	data := []byte("version 1.1.0")
	good, _ := protocol.SignKeyStatement(releasePriv, protocol.KeyStatement{Add: newKey.String()})
	forged, _ := protocol.SignKeyStatement(otherPriv, protocol.KeyStatement{Add: newKey.String()})
	for _, tt := range []struct {
		name string
		keys []protocol.SignedKeyStatement
		ok   bool
	}{
		{"no statement", nil, false},
		{"statement by an untrusted key", []protocol.SignedKeyStatement{forged}, false},
		{"statement by a trusted key", []protocol.SignedKeyStatement{good}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.rs.serve("r", data)
			offer := offerFor(t, newPriv, "r", "1.1.0", "linux", "amd64", data)
			offer.Keys = tt.keys
			err := f.u.Apply(t.Context(), offer)
			if tt.ok != errors.Is(err, ErrRestart) {
				t.Fatalf("Apply = %v, want taken %v", err, tt.ok)
			}
		})
	}
}

func TestRemoveLeftovers(t *testing.T) {
	f := newFixture(t)
	backup := backupPath(f.u.Binary)
	os.WriteFile(backup, []byte("old"), 0o755)
	SaveState(f.u.Dir, State{Pending: &Pending{Phase: PhaseSwapped, Backup: backup}})
	f.u.RemoveLeftovers()
	if _, err := os.Stat(backup); err != nil {
		t.Fatal("the backup of a pending update was removed")
	}
	SaveState(f.u.Dir, State{})
	f.u.RemoveLeftovers()
	if _, err := os.Stat(backup); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover backup not removed: %v", err)
	}
}
