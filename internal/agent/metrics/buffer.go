package metrics

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/protocol"
)

// Files of a Buffer's directory.
const (
	samplesFile = "samples.jsonl" // one sample per line, oldest first, append-only
	headFile    = "head.json"     // which lines are gone, and the drop counters
	// compactMin is the least dead space in samplesFile worth a rewrite.
	compactMin = 256 << 10
	// maxLineBytes bounds a line read back; a sample is far smaller.
	maxLineBytes = 1 << 20
)

// Buffer is the on-disk queue of samples waiting for the server, bounded
// by a number of samples and of bytes: when full, the oldest samples are
// dropped and counted, and the count is reported with the next batch.
//
// Samples are appended to samplesFile, each line carrying a sequence
// number, and synced. Removing samples (acknowledged or dropped) only
// advances the first live sequence number in headFile, which is replaced
// atomically; samplesFile is rewritten without the dead lines when they
// outweigh the live ones, and on Open. A crash therefore loses at most the
// sample being appended (a torn last line, skipped on Open), and can at
// worst resend a batch whose acknowledgement it had not recorded yet.
//
// The live samples are also kept in memory, so the buffer costs up to its
// byte bound in memory while the server is unreachable. A Buffer is safe
// for concurrent use: the sampler appends while the control connection
// sends and removes.
type Buffer struct {
	dir   string
	ready chan struct{} // signalled by Append

	mu         sync.Mutex
	items      []item // live samples, oldest first
	bytes      int64  // sum of the live lines' lengths
	dead       int64  // bytes of removed lines still in samplesFile
	nextSeq    uint64
	head       head
	maxSamples int
	maxBytes   int64
	f          *os.File // samplesFile, opened for appending
}

type item struct {
	seq  uint64
	line []byte // JSON object ending in '\n'
}

// head is the content of headFile. Dropped and Reported only grow; their
// difference is the drop count not yet acknowledged by the server.
type head struct {
	First    uint64 `json:"first"`    // sequence number of the oldest live sample
	Dropped  int64  `json:"dropped"`  // samples dropped since the buffer was created
	Reported int64  `json:"reported"` // of those, how many the server acknowledged
}

// line is the stored form of a sample.
type line struct {
	Seq uint64 `json:"seq"`
	protocol.Sample
}

// OpenBuffer opens the buffer in dir (see config.MetricsDir), creating it
// if needed, with the given bounds.
func OpenBuffer(dir string, maxSamples int, maxBytes int64) (*Buffer, error) {
	b := &Buffer{dir: dir, ready: make(chan struct{}, 1), maxSamples: maxSamples, maxBytes: maxBytes}
	if err := b.load(); err != nil {
		return nil, fmt.Errorf("open metrics buffer %s: %w", dir, err)
	}
	return b, nil
}

func (b *Buffer) load() error {
	raw, err := os.ReadFile(filepath.Join(b.dir, headFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(raw, &b.head); err != nil {
			// The samples are worth more than the counters: keep them all.
			b.head = head{}
		}
	}
	b.nextSeq = b.head.First
	f, err := os.Open(filepath.Join(b.dir, samplesFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if f != nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, maxLineBytes)
		for sc.Scan() {
			var l line
			if json.Unmarshal(sc.Bytes(), &l) != nil || l.Time.IsZero() || l.Seq < b.nextSeq {
				continue // torn by a crash, or removed already
			}
			ln := make([]byte, len(sc.Bytes())+1)
			copy(ln, sc.Bytes())
			ln[len(ln)-1] = '\n'
			b.items = append(b.items, item{seq: l.Seq, line: ln})
			b.bytes += int64(len(ln))
			b.nextSeq = l.Seq + 1
		}
		err := sc.Err()
		f.Close()
		if err != nil {
			return err
		}
	}
	b.trim(0)
	// Start from a clean file: no torn line for the next append to extend.
	if err := b.compact(); err != nil {
		return err
	}
	return b.saveHead()
}

// SetLimits changes the bounds, dropping the oldest samples if the buffer
// is now over them.
func (b *Buffer) SetLimits(maxSamples int, maxBytes int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.maxSamples, b.maxBytes = maxSamples, maxBytes
	if b.trim(0) == 0 {
		return nil
	}
	return b.persistRemoval()
}

// Append adds a sample at the end, dropping the oldest samples if the
// buffer is full, and signals Ready.
func (b *Buffer) Append(s protocol.Sample) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.f == nil {
		return errors.New("buffer sample: buffer is closed")
	}
	enc, err := json.Marshal(line{Seq: b.nextSeq, Sample: s})
	if err != nil {
		return fmt.Errorf("buffer sample: %w", err)
	}
	it := item{seq: b.nextSeq, line: append(enc, '\n')}
	if int64(len(it.line)) > b.maxBytes {
		b.head.Dropped++
		return b.saveHead()
	}
	if _, err := b.f.Write(it.line); err != nil {
		return fmt.Errorf("buffer sample: %w", err)
	}
	if err := b.f.Sync(); err != nil {
		return fmt.Errorf("buffer sample: %w", err)
	}
	b.nextSeq++
	dropped := b.trim(int64(len(it.line)))
	b.items = append(b.items, it)
	b.bytes += int64(len(it.line))
	select {
	case b.ready <- struct{}{}:
	default:
	}
	if dropped > 0 {
		return b.persistRemoval()
	}
	return nil
}

// trim drops the oldest samples until extra more bytes and one more sample
// would fit (extra zero: until the buffer is within its bounds), and
// returns how many it dropped.
func (b *Buffer) trim(extra int64) int {
	more := 0
	if extra > 0 {
		more = 1
	}
	n := 0
	for n < len(b.items) && (len(b.items)-n+more > b.maxSamples || b.bytes+extra > b.maxBytes) {
		b.bytes -= int64(len(b.items[n].line))
		b.dead += int64(len(b.items[n].line))
		n++
	}
	b.removeFront(n)
	b.head.Dropped += int64(n)
	return n
}

func (b *Buffer) removeFront(n int) {
	if n == 0 {
		return
	}
	clear(b.items[:n])
	b.items = b.items[n:]
	if len(b.items) > 0 {
		b.head.First = b.items[0].seq
	} else {
		b.head.First = b.nextSeq
	}
}

// Ready is signalled when a sample is appended.
func (b *Buffer) Ready() <-chan struct{} { return b.ready }

// Len returns the number of samples in the buffer and the drop count not
// yet reported.
func (b *Buffer) Len() (samples int, dropped int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.items), b.head.Dropped - b.head.Reported
}

// batchBytes bounds the stored lines Next puts in one batch, so that the
// message fits protocol.MaxMessageBytes at the first try: a stored line
// is longer than its sample in the message (it carries a sequence number),
// and the rest is the envelope and the drop count. Without it, a backlog
// of large samples was decoded and encoded whole, then halved until it fit:
// 15 MB allocated for each batch of 31 samples of 45 values.
const batchBytes = protocol.MaxMessageBytes - 1<<10

// Next returns the oldest samples, at most max and at most batchBytes of
// them, as a batch that carries the drop count not yet reported, and an id
// for Acked. ok is false when the buffer is empty. The samples stay in the
// buffer until Acked.
func (b *Buffer) Next(max int) (id string, batch protocol.MetricsBatch, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(max, len(b.items))
	if n <= 0 {
		return "", protocol.MetricsBatch{}, false
	}
	size := len(b.items[0].line)
	for i := 1; i < n; i++ {
		if size += len(b.items[i].line); size > batchBytes {
			n = i
			break
		}
	}
	batch.Samples = make([]protocol.Sample, 0, n)
	for _, it := range b.items[:n] {
		var l line
		if json.Unmarshal(it.line, &l) == nil {
			batch.Samples = append(batch.Samples, l.Sample)
		}
	}
	batch.Dropped = b.head.Dropped - b.head.Reported
	// The id names the last sample and the drop total the batch reports,
	// which makes Acked idempotent and immune to drops in between.
	return fmt.Sprintf("%d.%d", b.items[n-1].seq, b.head.Dropped), batch, true
}

// Acked removes the batch Next returned as id, once the server has stored
// it: every sample up to the batch's last, and its drop count.
func (b *Buffer) Acked(id string) error {
	seqStr, dropStr, _ := strings.Cut(id, ".")
	last, err1 := strconv.ParseUint(seqStr, 10, 64)
	dropped, err2 := strconv.ParseInt(dropStr, 10, 64)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("ack metrics batch: bad id %q", id)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for n < len(b.items) && b.items[n].seq <= last {
		b.bytes -= int64(len(b.items[n].line))
		b.dead += int64(len(b.items[n].line))
		n++
	}
	b.removeFront(n)
	b.head.Reported = max(b.head.Reported, min(dropped, b.head.Dropped))
	if err := b.persistRemoval(); err != nil {
		return fmt.Errorf("ack metrics batch: %w", err)
	}
	return nil
}

// persistRemoval records removed samples: the head always, and a rewrite
// of samplesFile when dead lines outweigh live ones.
func (b *Buffer) persistRemoval() error {
	if err := b.saveHead(); err != nil {
		return err
	}
	if b.dead >= compactMin && b.dead > b.bytes {
		return b.compact()
	}
	return nil
}

func (b *Buffer) saveHead() error {
	raw, err := json.Marshal(b.head)
	if err != nil {
		return err
	}
	return config.WriteFile(filepath.Join(b.dir, headFile), append(raw, '\n'))
}

// compact rewrites samplesFile with the live samples only and reopens it
// for appending. The old handle is closed first: Windows cannot replace an
// open file.
func (b *Buffer) compact() error {
	if b.f != nil {
		b.f.Close()
		b.f = nil
	}
	data := make([]byte, 0, b.bytes)
	for _, it := range b.items {
		data = append(data, it.line...)
	}
	path := filepath.Join(b.dir, samplesFile)
	werr := config.WriteFile(path, data)
	// After a failed rewrite the old file is intact: keep appending to it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return errors.Join(werr, err)
	}
	b.f = f
	if werr != nil {
		return werr
	}
	b.dead = 0
	return nil
}

// Close closes the buffer's file. Samples appended are already on disk.
func (b *Buffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.f == nil {
		return nil
	}
	err := b.f.Close()
	b.f = nil
	return err
}
