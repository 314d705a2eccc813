package protocol

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/semver"
)

// Agent releases are signed offline with an ed25519 release key; the server
// and every agent check the signature against the release public keys they
// trust, so a server that is taken over cannot push a binary of its own.
// What is signed is a ReleaseStatement, not only the file: the version, OS
// and architecture are bound to the bytes, so a signed binary cannot be
// offered as another version or for another platform.

// ReleaseFilePath is where an agent downloads a release's file: GET
// ReleaseFilePath + release ID, with the agent's credentials. Range
// requests resume an interrupted download; 503 with Retry-After means the
// server is serving as many downloads as it allows, try later.
const ReleaseFilePath = "/agent/v1/releases/"

// Release limits.
const (
	// MaxSignedReleaseBytes bounds an encoded SignedRelease.
	MaxSignedReleaseBytes = 4 << 10
	// MaxReleaseBytes bounds an agent binary (or package) a release carries.
	MaxReleaseBytes = 512 << 20
	maxVersionLen   = 64
	// ReleaseKeyPrefix starts the text form of a release public key.
	ReleaseKeyPrefix = "steward-release-ed25519 "
	// releaseDomain separates release signatures from any other use of the
	// same key.
	releaseDomain = "steward-release-v1"
)

// Release platforms: the operating systems and architectures agents are
// built for.
var (
	ReleaseOSes   = []string{"windows", "linux", "darwin"}
	ReleaseArches = []string{"amd64", "arm64"}
)

// ReleaseStatement describes one release file exactly.
type ReleaseStatement struct {
	Version string `json:"version"` // semantic version, without a leading v: 1.4.0, 1.5.0-beta.2
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"` // lowercase hex
}

// SignedBytes is the message a release key signs: a fixed domain line and
// one line per field, so that no two statements share a signature.
func (s ReleaseStatement) SignedBytes() []byte {
	var b bytes.Buffer
	b.WriteString(releaseDomain + "\n")
	b.WriteString("version=" + s.Version + "\n")
	b.WriteString("os=" + s.OS + "\n")
	b.WriteString("arch=" + s.Arch + "\n")
	b.WriteString("size=" + strconv.FormatInt(s.Size, 10) + "\n")
	b.WriteString("sha256=" + s.SHA256 + "\n")
	return b.Bytes()
}

// Validate checks every field's form (not the signature).
func (s ReleaseStatement) Validate() error {
	if !ValidVersion(s.Version) {
		return fmt.Errorf("version %q is not a semantic version (MAJOR.MINOR.PATCH, optionally -PRERELEASE)", s.Version)
	}
	if !oneOf(s.OS, ReleaseOSes) {
		return fmt.Errorf("os %q is not one of %s", s.OS, strings.Join(ReleaseOSes, ", "))
	}
	if !oneOf(s.Arch, ReleaseArches) {
		return fmt.Errorf("arch %q is not one of %s", s.Arch, strings.Join(ReleaseArches, ", "))
	}
	if s.Size <= 0 || s.Size > MaxReleaseBytes {
		return fmt.Errorf("size %d is outside 1..%d bytes", s.Size, MaxReleaseBytes)
	}
	if len(s.SHA256) != 64 || strings.ToLower(s.SHA256) != s.SHA256 {
		return fmt.Errorf("sha256 %q is not 64 lowercase hex digits", s.SHA256)
	}
	if _, err := hex.DecodeString(s.SHA256); err != nil {
		return fmt.Errorf("sha256 %q is not 64 lowercase hex digits", s.SHA256)
	}
	return nil
}

// SignedRelease is a statement with its signature: the .sig file that
// `steward release sign` writes and that agents receive with an update.
type SignedRelease struct {
	Statement ReleaseStatement `json:"statement"`
	KeyID     string           `json:"key_id"`
	Signature []byte           `json:"signature"` // ed25519, base64 in JSON
}

// ReleaseKey is a trusted release public key.
type ReleaseKey struct {
	ID  string
	Pub ed25519.PublicKey
}

// NewReleaseKey wraps a public key with its ID.
func NewReleaseKey(pub ed25519.PublicKey) ReleaseKey {
	return ReleaseKey{ID: ReleaseKeyID(pub), Pub: pub}
}

// ReleaseKeyID names a public key: the first 8 bytes of its SHA-256, in hex.
func ReleaseKeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// String renders the key in the text form ParseReleaseKey reads.
func (k ReleaseKey) String() string {
	return ReleaseKeyPrefix + base64.StdEncoding.EncodeToString(k.Pub)
}

// ParseReleaseKey reads "steward-release-ed25519 BASE64" (surrounding
// space ignored).
func ParseReleaseKey(text string) (ReleaseKey, error) {
	text = strings.TrimSpace(text)
	rest, ok := strings.CutPrefix(text, ReleaseKeyPrefix)
	if !ok {
		return ReleaseKey{}, fmt.Errorf("release key does not start with %q", strings.TrimSpace(ReleaseKeyPrefix))
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return ReleaseKey{}, fmt.Errorf("release key: %w", err)
	}
	if len(raw) != ed25519.PublicKeySize {
		return ReleaseKey{}, fmt.Errorf("release key is %d bytes, want %d", len(raw), ed25519.PublicKeySize)
	}
	return NewReleaseKey(ed25519.PublicKey(raw)), nil
}

// SignRelease signs s with priv.
func SignRelease(priv ed25519.PrivateKey, s ReleaseStatement) (SignedRelease, error) {
	if err := s.Validate(); err != nil {
		return SignedRelease{}, err
	}
	pub, ok := priv.Public().(ed25519.PublicKey)
	if !ok {
		return SignedRelease{}, errors.New("release key: not an ed25519 key")
	}
	return SignedRelease{
		Statement: s,
		KeyID:     ReleaseKeyID(pub),
		Signature: ed25519.Sign(priv, s.SignedBytes()),
	}, nil
}

// Errors of VerifyRelease, for callers that report the reason.
var (
	ErrReleaseUnsigned     = errors.New("release is not signed")
	ErrReleaseUnknownKey   = errors.New("release is signed by a key that is not trusted")
	ErrReleaseBadSignature = errors.New("release signature does not verify")
)

// VerifyRelease checks that r is well formed and signed by one of keys.
func VerifyRelease(keys []ReleaseKey, r SignedRelease) error {
	if err := r.Statement.Validate(); err != nil {
		return err
	}
	if len(r.Signature) == 0 {
		return ErrReleaseUnsigned
	}
	for _, k := range keys {
		if k.ID != r.KeyID {
			continue
		}
		if len(r.Signature) != ed25519.SignatureSize || !ed25519.Verify(k.Pub, r.Statement.SignedBytes(), r.Signature) {
			return ErrReleaseBadSignature
		}
		return nil
	}
	return fmt.Errorf("%w (key %q)", ErrReleaseUnknownKey, r.KeyID)
}

// DecodeSignedRelease parses a SignedRelease and checks its form (not its
// signature: that needs the trusted keys, see VerifyRelease).
func DecodeSignedRelease(b []byte) (SignedRelease, error) {
	var r SignedRelease
	if len(b) > MaxSignedReleaseBytes {
		return r, ErrTooLarge
	}
	if err := strictUnmarshal(b, &r); err != nil {
		return SignedRelease{}, fmt.Errorf("decode signed release: %w", err)
	}
	if err := r.Statement.Validate(); err != nil {
		return SignedRelease{}, fmt.Errorf("decode signed release: %w", err)
	}
	if r.KeyID == "" {
		return SignedRelease{}, errors.New("decode signed release: missing key_id")
	}
	if err := checkToken("key_id", r.KeyID, maxIDLen); err != nil {
		return SignedRelease{}, fmt.Errorf("decode signed release: %w", err)
	}
	if len(r.Signature) != ed25519.SignatureSize {
		return SignedRelease{}, fmt.Errorf("decode signed release: signature is %d bytes, want %d", len(r.Signature), ed25519.SignatureSize)
	}
	return r, nil
}

// Encode renders r as the JSON DecodeSignedRelease reads.
func (r SignedRelease) Encode() []byte {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil { // only plain fields: cannot fail
		panic(err)
	}
	return append(b, '\n')
}

// ValidVersion reports whether v is a semantic version without a leading
// "v" and without build metadata: MAJOR.MINOR.PATCH[-PRERELEASE].
func ValidVersion(v string) bool {
	if v == "" || len(v) > maxVersionLen || strings.HasPrefix(v, "v") || strings.Contains(v, "+") {
		return false
	}
	sv := "v" + v
	// semver accepts the shorthands v1 and v1.2; a release names all three.
	return semver.IsValid(sv) && strings.Count(strings.SplitN(v, "-", 2)[0], ".") == 2
}

// CompareVersions orders two versions by semantic-version precedence:
// -1, 0 or +1. An invalid version sorts before every valid one.
func CompareVersions(a, b string) int {
	return semver.Compare("v"+a, "v"+b)
}

func oneOf(s string, list []string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}

// A release older than what an agent runs is installed only with a
// rollback instruction: a statement, signed offline with a release key
// like the release itself, that names exactly which release (version,
// platform, SHA-256) agents may go back to. A server cannot downgrade
// agents to an old, perhaps vulnerable, signed release on its own.
const rollbackDomain = "steward-rollback-v1"

// RollbackStatement names the release agents may roll back to.
type RollbackStatement struct {
	Version string `json:"version"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	SHA256  string `json:"sha256"`
}

// SignedBytes is the message a release key signs for a rollback.
func (s RollbackStatement) SignedBytes() []byte {
	return []byte(rollbackDomain + "\nversion=" + s.Version + "\nos=" + s.OS + "\narch=" + s.Arch + "\nsha256=" + s.SHA256 + "\n")
}

// Matches reports whether the rollback names exactly this release.
func (s RollbackStatement) Matches(r ReleaseStatement) bool {
	return s.Version == r.Version && s.OS == r.OS && s.Arch == r.Arch && s.SHA256 == r.SHA256
}

// SignedRollback is a rollback statement with its signature.
type SignedRollback struct {
	Statement RollbackStatement `json:"statement"`
	KeyID     string            `json:"key_id"`
	Signature []byte            `json:"signature"`
}

// SignRollback signs a rollback to the release r.
func SignRollback(priv ed25519.PrivateKey, r ReleaseStatement) (SignedRollback, error) {
	if err := r.Validate(); err != nil {
		return SignedRollback{}, err
	}
	pub, ok := priv.Public().(ed25519.PublicKey)
	if !ok {
		return SignedRollback{}, errors.New("release key: not an ed25519 key")
	}
	st := RollbackStatement{Version: r.Version, OS: r.OS, Arch: r.Arch, SHA256: r.SHA256}
	return SignedRollback{Statement: st, KeyID: ReleaseKeyID(pub), Signature: ed25519.Sign(priv, st.SignedBytes())}, nil
}

// VerifyRollback checks that rb is signed by one of keys and names the
// release r.
func VerifyRollback(keys []ReleaseKey, rb SignedRollback, r ReleaseStatement) error {
	if !rb.Statement.Matches(r) {
		return fmt.Errorf("the rollback instruction names %s %s/%s, not this release", rb.Statement.Version, rb.Statement.OS, rb.Statement.Arch)
	}
	for _, k := range keys {
		if k.ID != rb.KeyID {
			continue
		}
		if len(rb.Signature) != ed25519.SignatureSize || !ed25519.Verify(k.Pub, rb.Statement.SignedBytes(), rb.Signature) {
			return fmt.Errorf("rollback instruction: %w", ErrReleaseBadSignature)
		}
		return nil
	}
	return fmt.Errorf("rollback instruction: %w (key %q)", ErrReleaseUnknownKey, rb.KeyID)
}

// DecodeSignedRollback parses a rollback instruction and checks its form.
func DecodeSignedRollback(b []byte) (SignedRollback, error) {
	var rb SignedRollback
	if len(b) > MaxSignedReleaseBytes {
		return rb, ErrTooLarge
	}
	if err := strictUnmarshal(b, &rb); err != nil {
		return SignedRollback{}, fmt.Errorf("decode rollback instruction: %w", err)
	}
	st := rb.Statement
	if err := (ReleaseStatement{Version: st.Version, OS: st.OS, Arch: st.Arch, Size: 1, SHA256: st.SHA256}).Validate(); err != nil {
		return SignedRollback{}, fmt.Errorf("decode rollback instruction: %w", err)
	}
	if rb.KeyID == "" {
		return SignedRollback{}, errors.New("decode rollback instruction: missing key_id")
	}
	if err := checkToken("key_id", rb.KeyID, maxIDLen); err != nil {
		return SignedRollback{}, fmt.Errorf("decode rollback instruction: %w", err)
	}
	if len(rb.Signature) != ed25519.SignatureSize {
		return SignedRollback{}, fmt.Errorf("decode rollback instruction: signature is %d bytes, want %d", len(rb.Signature), ed25519.SignatureSize)
	}
	return rb, nil
}

// Encode renders rb as the JSON DecodeSignedRollback reads.
func (rb SignedRollback) Encode() []byte {
	b, err := json.MarshalIndent(rb, "", "  ")
	if err != nil { // only plain fields: cannot fail
		panic(err)
	}
	return append(b, '\n')
}
