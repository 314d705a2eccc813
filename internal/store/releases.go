package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// ReleaseChunkBytes is the size of each stored piece of a release file
// (the last one is shorter): a range request reads only the pieces it
// covers, and no read holds more than one piece in memory.
const ReleaseChunkBytes = 512 << 10

// Release states.
const (
	ReleaseActive    = "active"    // offered to the agents of its channel
	ReleaseHalted    = "halted"    // its rollout stopped, by the halt rules or by hand
	ReleaseWithdrawn = "withdrawn" // never offered again
)

// ErrSizeMismatch says that a release file does not hold the bytes its
// release states.
var ErrSizeMismatch = errors.New("file size differs from the release's")

// Release is one signed agent binary.
type Release struct {
	ID        string `json:"id"`
	Version   string `json:"version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	Channel   string `json:"channel"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	KeyID     string `json:"key_id"`
	Signature string `json:"-"` // the .sig file as published (protocol.SignedRelease)
	// Rollback is a signed rollback instruction (protocol.SignedRollback)
	// allowing agents on newer versions back to this release, "" if none.
	Rollback        string    `json:"-"`
	RollbackAllowed bool      `json:"rollback_allowed"`
	Notes           string    `json:"notes"`
	Status          string    `json:"status"`
	CreatedBy       string    `json:"created_by"`
	CreatedAt       time.Time `json:"created_at"`
}

// CreateRelease stores r and its bytes, read from file (exactly r.Size
// bytes). It answers ErrConflict when the version is already published for
// that OS and architecture.
func (t *Tx) CreateRelease(ctx context.Context, r Release, file io.Reader) (Release, error) {
	r.ID, r.CreatedAt = NewID(), fromMS(ms(t.db.now()))
	if r.Status == "" {
		r.Status = ReleaseActive
	}
	_, err := t.q.ExecContext(ctx, `INSERT INTO releases (id, version, os, arch, channel, size, sha256, key_id, signature, notes, status, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		r.ID, r.Version, r.OS, r.Arch, r.Channel, r.Size, r.SHA256, r.KeyID, r.Signature, r.Notes, r.Status, r.CreatedBy, ms(r.CreatedAt))
	if t.db.dialect.isUniqueViolation(err) {
		return Release{}, fmt.Errorf("release %s for %s/%s: %w", r.Version, r.OS, r.Arch, ErrConflict)
	}
	if err != nil {
		return Release{}, fmt.Errorf("create release %s: %w", r.Version, err)
	}
	buf := make([]byte, ReleaseChunkBytes)
	var written int64
	for seq := 0; ; seq++ {
		n, err := io.ReadFull(file, buf)
		if n > 0 {
			if _, err := t.q.ExecContext(ctx, `INSERT INTO release_chunks (release_id, seq, data) VALUES ($1, $2, $3)`,
				r.ID, seq, buf[:n]); err != nil {
				return Release{}, fmt.Errorf("store release %s chunk %d: %w", r.Version, seq, err)
			}
			written += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return Release{}, fmt.Errorf("read release %s: %w", r.Version, err)
		}
	}
	if written != r.Size {
		return Release{}, fmt.Errorf("release %s: read %d bytes, want %d: %w", r.Version, written, r.Size, ErrSizeMismatch)
	}
	return r, nil
}

// SetReleaseRollback attaches a signed rollback instruction to a release.
func (t *Tx) SetReleaseRollback(ctx context.Context, id, rollback string) error {
	res, err := t.q.ExecContext(ctx, `UPDATE releases SET rollback = $1 WHERE id = $2`, rollback, id)
	if err != nil {
		return fmt.Errorf("set release %s rollback: %w", id, err)
	}
	return expectOne(res, "release "+id)
}

// SetReleaseStatus changes a release's status.
func (t *Tx) SetReleaseStatus(ctx context.Context, id, status string) error {
	res, err := t.q.ExecContext(ctx, `UPDATE releases SET status = $1 WHERE id = $2`, status, id)
	if err != nil {
		return fmt.Errorf("set release %s %s: %w", id, status, err)
	}
	return expectOne(res, "release "+id)
}

// HaltActiveRelease halts a release that is active and reports whether it
// did: the rollout job and the failure reports of several replicas may
// decide to halt the same release at once, and only one of them acts.
func (t *Tx) HaltActiveRelease(ctx context.Context, id string) (bool, error) {
	res, err := t.q.ExecContext(ctx, `UPDATE releases SET status = $1 WHERE id = $2 AND status = $3`, ReleaseHalted, id, ReleaseActive)
	if err != nil {
		return false, fmt.Errorf("halt release %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("halt release %s: %w", id, err)
	}
	return n == 1, nil
}

const releaseColumns = `id, version, os, arch, channel, size, sha256, key_id, signature, notes, status, created_by, created_at, rollback`

func scanRelease(row interface{ Scan(...any) error }) (Release, error) {
	var (
		r       Release
		created int64
	)
	if err := row.Scan(&r.ID, &r.Version, &r.OS, &r.Arch, &r.Channel, &r.Size, &r.SHA256, &r.KeyID, &r.Signature,
		&r.Notes, &r.Status, &r.CreatedBy, &created, &r.Rollback); err != nil {
		return Release{}, err
	}
	r.CreatedAt, r.RollbackAllowed = fromMS(created), r.Rollback != ""
	return r, nil
}

// GetRelease returns one release.
func (db *DB) GetRelease(ctx context.Context, id string) (Release, error) {
	r, err := scanRelease(db.sql.QueryRowContext(ctx, `SELECT `+releaseColumns+` FROM releases WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Release{}, fmt.Errorf("release %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Release{}, fmt.Errorf("get release %s: %w", id, err)
	}
	return r, nil
}

// ReleaseFilter selects releases; empty fields match everything.
type ReleaseFilter struct {
	Channel, OS, Arch, Version, Status string
}

// ListReleases returns releases, newest first.
func (db *DB) ListReleases(ctx context.Context, f ReleaseFilter, p Page) ([]Release, int, error) {
	p = p.Normalize()
	where := `($1 = '' OR channel = $1) AND ($2 = '' OR os = $2) AND ($3 = '' OR arch = $3) AND ($4 = '' OR version = $4) AND ($5 = '' OR status = $5)`
	args := []any{f.Channel, f.OS, f.Arch, f.Version, f.Status}
	var total int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM releases WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count releases: %w", err)
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT `+releaseColumns+` FROM releases WHERE `+where+
		` ORDER BY created_at DESC, id DESC LIMIT $6 OFFSET $7`, append(args, p.Limit, p.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list releases: %w", err)
	}
	defer rows.Close()
	out := []Release{}
	for rows.Next() {
		r, err := scanRelease(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list releases: %w", err)
		}
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// ReleaseFile reads a release's bytes from the database: an io.ReadSeeker
// for http.ServeContent, holding one chunk at a time.
type ReleaseFile struct {
	db    *DB
	ctx   context.Context
	id    string
	size  int64
	off   int64
	chunk []byte // the chunk holding chunkSeq, nil when none is loaded
	seq   int64
}

// OpenRelease returns a reader of the release's bytes; ctx bounds its
// reads.
func (db *DB) OpenRelease(ctx context.Context, r Release) *ReleaseFile {
	return &ReleaseFile{db: db, ctx: ctx, id: r.ID, size: r.Size, seq: -1}
}

// Read implements io.Reader.
func (f *ReleaseFile) Read(p []byte) (int, error) {
	if f.off >= f.size {
		return 0, io.EOF
	}
	seq := f.off / ReleaseChunkBytes
	if seq != f.seq {
		var data []byte
		err := f.db.sql.QueryRowContext(f.ctx, `SELECT data FROM release_chunks WHERE release_id = $1 AND seq = $2`, f.id, seq).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("release %s chunk %d: %w", f.id, seq, ErrNotFound)
		}
		if err != nil {
			return 0, fmt.Errorf("read release %s chunk %d: %w", f.id, seq, err)
		}
		f.chunk, f.seq = data, seq
	}
	at := f.off - seq*ReleaseChunkBytes
	if at >= int64(len(f.chunk)) {
		return 0, fmt.Errorf("release %s chunk %d is %d bytes, short of offset %d", f.id, seq, len(f.chunk), at)
	}
	n := copy(p, f.chunk[at:])
	f.off += int64(n)
	return n, nil
}

// Seek implements io.Seeker.
func (f *ReleaseFile) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = f.off + offset
	case io.SeekEnd:
		abs = f.size + offset
	default:
		return 0, fmt.Errorf("seek release %s: bad whence %d", f.id, whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("seek release %s: negative offset %d", f.id, abs)
	}
	f.off = abs
	return abs, nil
}

// AddKeyStatement stores a signed release key statement (its encoded
// JSON).
func (t *Tx) AddKeyStatement(ctx context.Context, signer, statement, createdBy string) error {
	_, err := t.q.ExecContext(ctx, `INSERT INTO release_key_statements (id, signer, statement, created_by, created_at) VALUES ($1, $2, $3, $4, $5)`,
		NewID(), signer, statement, createdBy, ms(t.db.now()))
	if err != nil {
		return fmt.Errorf("store key statement: %w", err)
	}
	return nil
}

// KeyStatement is a stored release key statement with who recorded it
// and when: a line of the key rotation history.
type KeyStatement struct {
	Signed    protocol.SignedKeyStatement
	CreatedBy string
	CreatedAt time.Time
}

// KeyStatements returns the stored key statements, oldest first.
func (db *DB) KeyStatements(ctx context.Context) ([]protocol.SignedKeyStatement, error) {
	log, err := db.KeyStatementLog(ctx)
	if err != nil {
		return nil, err
	}
	var out []protocol.SignedKeyStatement
	for _, st := range log {
		out = append(out, st.Signed)
	}
	return out, nil
}

// KeyStatementLog returns the stored key statements with who recorded
// them and when, oldest first.
func (db *DB) KeyStatementLog(ctx context.Context) ([]KeyStatement, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT statement, created_by, created_at FROM release_key_statements ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list key statements: %w", err)
	}
	defer rows.Close()
	var out []KeyStatement
	for rows.Next() {
		var (
			raw     string
			st      KeyStatement
			created int64
		)
		if err := rows.Scan(&raw, &st.CreatedBy, &created); err != nil {
			return nil, fmt.Errorf("list key statements: %w", err)
		}
		if st.Signed, err = protocol.DecodeSignedKeyStatement([]byte(raw)); err != nil {
			return nil, fmt.Errorf("stored key statement: %w", err)
		}
		st.CreatedAt = fromMS(created)
		out = append(out, st)
	}
	return out, rows.Err()
}
