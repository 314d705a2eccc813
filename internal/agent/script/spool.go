package script

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Bounds of the spool: the output of finished runs is kept for the server
// to ask for again (protocol.CommandScriptOutput) while it stays within
// all three; the oldest goes first. Runs still running are always kept.
const (
	maxSpoolRuns  = 32
	maxSpoolBytes = 64 << 20
	maxSpoolAge   = 24 * time.Hour
)

// doneName marks a spooled run as finished; a run without it was cut short
// by a crash of the agent and is dropped at start.
const doneName = "done"

// spool keeps runs' output, one directory per run named after the hash of
// its command ID (IDs are the server's; hashes are safe names), holding
// stdout and stderr as written.
type spool struct {
	dir string
	log *slog.Logger

	mu   sync.Mutex
	runs map[string]*spooled // by directory name
}

type spooled struct {
	done  time.Time // zero while running
	bytes int64
}

func openSpool(dir string, log *slog.Logger) (*spool, error) {
	s := &spool{dir: dir, log: log, runs: map[string]*spooled{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("script output spool: %w", err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(filepath.Join(p, doneName))
		if err != nil {
			s.remove(e.Name())
			continue
		}
		s.runs[e.Name()] = &spooled{done: fi.ModTime(), bytes: size(p, protocol.StreamStdout) + size(p, protocol.StreamStderr)}
	}
	s.mu.Lock()
	s.prune(time.Now())
	s.mu.Unlock()
	return s, nil
}

func size(dir, name string) int64 {
	fi, err := os.Stat(filepath.Join(dir, name))
	if err != nil {
		return 0
	}
	return fi.Size()
}

func spoolName(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

// create starts the spool of a run: its stdout and stderr files.
func (s *spool) create(id string) ([2]*os.File, error) {
	name := spoolName(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune(time.Now())
	p := filepath.Join(s.dir, name)
	// A run of the same ID (not run twice by the client, but a crash can
	// leave one) starts over.
	os.RemoveAll(p)
	if err := os.Mkdir(p, 0o700); err != nil {
		return [2]*os.File{}, fmt.Errorf("script output spool: %w", err)
	}
	var out [2]*os.File
	for i, st := range []string{protocol.StreamStdout, protocol.StreamStderr} {
		f, err := os.OpenFile(filepath.Join(p, st), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			if i == 1 {
				out[0].Close()
			}
			os.RemoveAll(p)
			return [2]*os.File{}, fmt.Errorf("script output spool: %w", err)
		}
		out[i] = f
	}
	s.runs[name] = &spooled{}
	return out, nil
}

// finish marks a run's spool finished (its files closed by the run) and
// drops the oldest past the bounds.
func (s *spool) finish(id string) {
	name := spoolName(id)
	p := filepath.Join(s.dir, name)
	if err := os.WriteFile(filepath.Join(p, doneName), nil, 0o600); err != nil {
		s.log.Warn("cannot mark a script's output finished; it is dropped at the next start", "err", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.runs[name]; ok {
		r.done = time.Now()
		r.bytes = size(p, protocol.StreamStdout) + size(p, protocol.StreamStderr)
	}
	s.prune(time.Now())
}

// open opens a stream of a kept run.
func (s *spool) open(id, stream string) (*os.File, error) {
	if stream != protocol.StreamStdout && stream != protocol.StreamStderr {
		return nil, fmt.Errorf("no stream %q", stream)
	}
	name := spoolName(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runs[name]; !ok {
		return nil, ErrNoOutput
	}
	f, err := os.Open(filepath.Join(s.dir, name, stream))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, ErrNoOutput
		}
		return nil, fmt.Errorf("kept output: %w", err)
	}
	return f, nil
}

// prune drops finished runs past the bounds, oldest first. Called with mu
// held.
func (s *spool) prune(now time.Time) {
	var finished []string
	var total int64
	for name, r := range s.runs {
		if r.done.IsZero() {
			continue
		}
		if now.Sub(r.done) > maxSpoolAge {
			s.drop(name)
			continue
		}
		finished = append(finished, name)
		total += r.bytes
	}
	slices.SortFunc(finished, func(a, b string) int { return s.runs[a].done.Compare(s.runs[b].done) })
	for len(finished) > 0 && (len(finished) > maxSpoolRuns || total > maxSpoolBytes) {
		total -= s.runs[finished[0]].bytes
		s.drop(finished[0])
		finished = finished[1:]
	}
}

// drop forgets a run and removes its files. Called with mu held.
func (s *spool) drop(name string) {
	delete(s.runs, name)
	s.remove(name)
}

func (s *spool) remove(name string) {
	if err := os.RemoveAll(filepath.Join(s.dir, name)); err != nil && !os.IsNotExist(err) {
		s.log.Warn("cannot remove a script's kept output", "path", name, "err", err)
	}
}
