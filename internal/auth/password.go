// Package auth hashes passwords and generates and checks the secrets
// Steward hands out: API tokens, session IDs, enrollment tokens, agent
// secrets and the one-time setup token.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's minimum recommendation (19 MiB, 2 passes),
// which keeps a login around 30 ms on a small server.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// MinPasswordLen is the shortest password accepted.
const MinPasswordLen = 10

// MaxPasswordLen bounds the work an attacker can ask of argon2.
const MaxPasswordLen = 256

// ErrMismatch means a password did not match its hash.
var ErrMismatch = errors.New("password does not match")

// CheckPasswordPolicy says why a new password is unacceptable, or nil.
func CheckPasswordPolicy(pw string) error {
	switch {
	case len(pw) < MinPasswordLen:
		return fmt.Errorf("password must be at least %d characters", MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return fmt.Errorf("password must be at most %d characters", MaxPasswordLen)
	}
	return nil
}

// HashPassword returns a PHC-format argon2id hash.
func HashPassword(pw string) (string, error) {
	if len(pw) > MaxPasswordLen {
		return "", fmt.Errorf("password longer than %d characters", MaxPasswordLen)
	}
	salt := make([]byte, saltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// VerifyPassword checks pw against a hash made by HashPassword, using the
// parameters stored in the hash so they can be raised later.
func VerifyPassword(hash, pw string) error {
	if len(pw) > MaxPasswordLen {
		return ErrMismatch
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return errors.New("unsupported password hash format")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return errors.New("unsupported argon2 version")
	}
	var (
		mem, iters uint32
		threads    uint8
	)
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iters, &threads); err != nil {
		return fmt.Errorf("parse argon2 parameters: %w", err)
	}
	// The hash decides how much work a login costs, so cap it: 64 MiB and
	// 10 passes (about a second) leave room to raise the defaults without
	// letting a bad row make one login allocate gigabytes for minutes.
	if mem == 0 || mem > 64*1024 || iters == 0 || iters > 10 || threads == 0 {
		return errors.New("argon2 parameters out of range")
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return fmt.Errorf("decode salt: %w", err)
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return errors.New("decode argon2 key")
	}
	got := argon2.IDKey([]byte(pw), salt, iters, mem, threads, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// dummyHash is verified against when a login names an unknown user, so the
// response time does not tell which emails exist. It is made on first use
// so commands that never log anyone in do not pay for it.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("steward-timing-equalizer")
	return h
})

// BurnPasswordCheck spends the time of one password verification.
func BurnPasswordCheck(pw string) { _ = VerifyPassword(dummyHash(), pw) }

// Secret prefixes make leaked secrets recognisable by scanners and people.
const (
	PrefixAPIToken   = "stw_"
	PrefixEnrollment = "ste_"
	PrefixSetup      = "sts_"
)

// NewSecret returns prefix + 256 random bits, base64url without padding.
func NewSecret(prefix string) string {
	b := make([]byte, 32)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// HashSecret returns the hex SHA-256 of a high-entropy secret. Secrets are
// 256-bit random, so a fast hash is enough and allows indexed lookups.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SecretMatches compares a secret with a stored hash in constant time.
func SecretMatches(secret, hash string) bool {
	got := HashSecret(secret)
	return subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1
}

// GeneratePassword returns a random password for console-created users.
func GeneratePassword() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
