package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

// cheapHash builds a PHC argon2id hash with explicit parameters, so tests
// can prove VerifyPassword reads them from the hash and stay fast.
func cheapHash(pw string, mem, iters uint32, threads uint8, salt []byte, keyLen uint32) string {
	key := argon2.IDKey([]byte(pw), salt, iters, mem, threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, mem, iters, threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

var phcHash = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashPasswordRoundTrip(t *testing.T) {
	const pw = "correct horse battery staple"
	h, err := HashPassword(pw)
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	if !phcHash.MatchString(h) {
		t.Errorf("HashPassword(%q) = %q, want PHC argon2id with the default parameters", pw, h)
	}
	if err := VerifyPassword(h, pw); err != nil {
		t.Errorf("VerifyPassword(hash, %q) = %v, want nil", pw, err)
	}
	for _, wrong := range []string{"", "correct horse battery stapl", "Correct horse battery staple", pw + " ", pw + "\x00"} {
		if err := VerifyPassword(h, wrong); !errors.Is(err, ErrMismatch) {
			t.Errorf("VerifyPassword(hash, %q) = %v, want ErrMismatch", wrong, err)
		}
	}
	// A fresh salt every time: equal passwords never share a hash.
	h2, err := HashPassword(pw)
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	if h2 == h {
		t.Errorf("HashPassword(%q) returned the same hash twice: %q", pw, h)
	}
}

func TestHashPasswordLimits(t *testing.T) {
	max := strings.Repeat("p", MaxPasswordLen)
	h, err := HashPassword(max)
	if err != nil {
		t.Fatalf("HashPassword(%d bytes): %v", len(max), err)
	}
	if err := VerifyPassword(h, max); err != nil {
		t.Errorf("VerifyPassword(hash, %d bytes) = %v, want nil", len(max), err)
	}
	if _, err := HashPassword(max + "p"); err == nil {
		t.Errorf("HashPassword(%d bytes) succeeded, want error", len(max)+1)
	}
	// An over-long candidate is refused before argon2 runs.
	if err := VerifyPassword(h, max+"p"); !errors.Is(err, ErrMismatch) {
		t.Errorf("VerifyPassword(hash, %d bytes) = %v, want ErrMismatch", len(max)+1, err)
	}
	// The empty password hashes too; policy is CheckPasswordPolicy's job.
	h, err = HashPassword("")
	if err != nil {
		t.Fatalf(`HashPassword(""): %v`, err)
	}
	if err := VerifyPassword(h, ""); err != nil {
		t.Errorf(`VerifyPassword(hash, "") = %v, want nil`, err)
	}
}

func TestVerifyPasswordReadsParameters(t *testing.T) {
	salt := []byte("0123456789abcdef")
	tests := []struct {
		mem, iters uint32
		threads    uint8
		keyLen     uint32
	}{
		{mem: 8, iters: 1, threads: 1, keyLen: 32},
		{mem: 64, iters: 3, threads: 2, keyLen: 16},
		{mem: 1024, iters: 1, threads: 4, keyLen: 64},
		{mem: 32, iters: 2, threads: 1, keyLen: 128},
	}
	for _, tt := range tests {
		h := cheapHash("s3cret-password", tt.mem, tt.iters, tt.threads, salt, tt.keyLen)
		if err := VerifyPassword(h, "s3cret-password"); err != nil {
			t.Errorf("VerifyPassword(%q, right password) = %v, want nil", h, err)
		}
		if err := VerifyPassword(h, "other-password"); !errors.Is(err, ErrMismatch) {
			t.Errorf("VerifyPassword(%q, wrong password) = %v, want ErrMismatch", h, err)
		}
	}

	// Changing any parameter in the hash changes the derived key.
	h := cheapHash("pw", 64, 2, 1, salt, 32)
	for _, from := range []string{"m=64", "t=2", "p=1"} {
		to := map[string]string{"m=64": "m=72", "t=2": "t=3", "p=1": "p=2"}[from]
		edited := strings.Replace(h, from, to, 1)
		if err := VerifyPassword(edited, "pw"); !errors.Is(err, ErrMismatch) {
			t.Errorf("VerifyPassword(hash with %s instead of %s) = %v, want ErrMismatch", to, from, err)
		}
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	key := base64.RawStdEncoding.EncodeToString(make([]byte, 32))
	valid := cheapHash("pw", 8, 1, 1, []byte("0123456789abcdef"), 32)
	tests := []struct{ name, hash string }{
		{"empty", ""},
		{"plain text", "hunter2"},
		{"dollars only", "$$$$$"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=8,t=1,p=1$" + salt + "$" + key},
		{"too few parts", "$argon2id$v=19$m=8,t=1,p=1$" + salt},
		{"too many parts", valid + "$extra"},
		{"missing leading dollar", strings.TrimPrefix(valid, "$")},
		{"old version", "$argon2id$v=16$m=8,t=1,p=1$" + salt + "$" + key},
		{"no version", "$argon2id$m=8,t=1,p=1$" + salt + "$" + key + "$x"},
		{"garbage version", "$argon2id$v=x$m=8,t=1,p=1$" + salt + "$" + key},
		{"garbage parameters", "$argon2id$v=19$memory=8$" + salt + "$" + key},
		{"parameters out of order", "$argon2id$v=19$t=1,m=8,p=1$" + salt + "$" + key},
		{"zero memory", "$argon2id$v=19$m=0,t=1,p=1$" + salt + "$" + key},
		{"zero passes", "$argon2id$v=19$m=8,t=0,p=1$" + salt + "$" + key},
		{"zero threads", "$argon2id$v=19$m=8,t=1,p=0$" + salt + "$" + key},
		{"negative memory", "$argon2id$v=19$m=-8,t=1,p=1$" + salt + "$" + key},
		{"threads overflow uint8", "$argon2id$v=19$m=8,t=1,p=256$" + salt + "$" + key},
		{"memory overflow uint32", "$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + key},
		{"4 GiB memory", "$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + key},
		{"max uint32 memory", "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key},
		{"too many passes", "$argon2id$v=19$m=8,t=1000000,p=1$" + salt + "$" + key},
		{"bad salt", "$argon2id$v=19$m=8,t=1,p=1$!!!!$" + key},
		{"padded salt", "$argon2id$v=19$m=8,t=1,p=1$" + salt + "==$" + key},
		{"empty key", "$argon2id$v=19$m=8,t=1,p=1$" + salt + "$"},
		{"bad key", "$argon2id$v=19$m=8,t=1,p=1$" + salt + "$****"},
		{"oversized key", "$argon2id$v=19$m=8,t=1,p=1$" + salt + "$" + base64.RawStdEncoding.EncodeToString(make([]byte, 129))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyPassword(tt.hash, "pw")
			if err == nil {
				t.Fatalf("VerifyPassword(%q) = nil, want error", tt.hash)
			}
			// A broken hash is not a wrong password: callers must be able
			// to tell a corrupt row from a failed login.
			if errors.Is(err, ErrMismatch) {
				t.Errorf("VerifyPassword(%q) = ErrMismatch, want a format error", tt.hash)
			}
		})
	}
}

func TestBurnPasswordCheck(t *testing.T) {
	if err := VerifyPassword(dummyHash(), "steward-timing-equalizer"); err != nil {
		t.Fatalf("dummyHash does not verify: %v", err)
	}
	BurnPasswordCheck("anything") // must not panic
}

func TestCheckPasswordPolicy(t *testing.T) {
	tests := []struct {
		pw     string
		wantOK bool
	}{
		{"", false},
		{"short", false},
		{strings.Repeat("a", MinPasswordLen-1), false},
		{strings.Repeat("a", MinPasswordLen), true},
		{"correct horse battery staple", true},
		{strings.Repeat("a", MaxPasswordLen), true},
		{strings.Repeat("a", MaxPasswordLen+1), false},
	}
	for _, tt := range tests {
		err := CheckPasswordPolicy(tt.pw)
		if (err == nil) != tt.wantOK {
			t.Errorf("CheckPasswordPolicy(%d bytes) = %v, want ok = %t", len(tt.pw), err, tt.wantOK)
		}
	}
}

var base64URL = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func TestNewSecret(t *testing.T) {
	for _, prefix := range []string{PrefixAPIToken, PrefixEnrollment, PrefixSetup, ""} {
		seen := map[string]bool{}
		for range 1000 {
			s := NewSecret(prefix)
			body, ok := strings.CutPrefix(s, prefix)
			if !ok {
				t.Fatalf("NewSecret(%q) = %q, want the prefix", prefix, s)
			}
			// 32 random bytes in unpadded base64url.
			if len(body) != 43 || !base64URL.MatchString(body) {
				t.Fatalf("NewSecret(%q) = %q, want prefix + 43 base64url characters", prefix, s)
			}
			if seen[s] {
				t.Fatalf("NewSecret(%q) repeated %q", prefix, s)
			}
			seen[s] = true
		}
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		pw := GeneratePassword()
		if len(pw) != 24 || !base64URL.MatchString(pw) {
			t.Fatalf("GeneratePassword() = %q, want 24 base64url characters", pw)
		}
		if err := CheckPasswordPolicy(pw); err != nil {
			t.Fatalf("GeneratePassword() = %q fails the policy: %v", pw, err)
		}
		if seen[pw] {
			t.Fatalf("GeneratePassword() repeated %q", pw)
		}
		seen[pw] = true
	}
}

func TestHashSecret(t *testing.T) {
	// SHA-256 test vectors (FIPS 180-2).
	tests := []struct{ in, want string }{
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for _, tt := range tests {
		if got := HashSecret(tt.in); got != tt.want {
			t.Errorf("HashSecret(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}

	secret := NewSecret(PrefixAPIToken)
	h := HashSecret(secret)
	if !SecretMatches(secret, h) {
		t.Errorf("SecretMatches(secret, HashSecret(secret)) = false, want true")
	}
	mismatches := []struct{ name, secret, hash string }{
		{"other secret", NewSecret(PrefixAPIToken), h},
		{"secret with a suffix", secret + "x", h},
		{"secret without prefix", strings.TrimPrefix(secret, PrefixAPIToken), h},
		{"uppercase hash", secret, strings.ToUpper(h)},
		{"truncated hash", secret, h[:63]},
		{"empty hash", secret, ""},
		{"hash of the hash", h, h},
		{"secret as its own hash", secret, secret},
	}
	for _, tt := range mismatches {
		if SecretMatches(tt.secret, tt.hash) {
			t.Errorf("SecretMatches(%s) = true, want false", tt.name)
		}
	}
}

// FuzzVerifyPassword feeds arbitrary hash strings to VerifyPassword. It
// must not panic, and it must refuse parameters beyond its caps before
// running argon2, so a corrupt or hostile row cannot stall a login.
func FuzzVerifyPassword(f *testing.F) {
	salt := []byte("0123456789abcdef")
	f.Add(cheapHash("pw", 8, 1, 1, salt, 32), "pw")
	f.Add(cheapHash("pw", 16, 2, 2, salt, 16), "wrong")
	f.Add(cheapHash("", 8, 1, 1, nil, 4), "")
	f.Add("$argon2id$v=19$m=65536,t=10,p=1$c2FsdA$a2V5", "pw")
	f.Add("$argon2id$v=19$m=65537,t=1,p=1$c2FsdA$a2V5", "pw")
	f.Add("$argon2id$v=19$m=8,t=11,p=1$c2FsdA$a2V5", "pw")
	f.Add("$argon2id$v=19$m=4194304,t=20,p=255$c2FsdA$a2V5", "pw")
	f.Add("$argon2id$v=19$m=8,t=1,p=0$$", "pw")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$$AA", "pw")
	f.Add("$argon2id$v=19$m=+8,t=01,p=1$c2FsdA$a2V5", "pw")
	f.Add("$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "pw")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		err := VerifyPassword(hash, pw)
		if err != nil && !errors.Is(err, ErrMismatch) {
			return // refused as malformed
		}
		if len(pw) > MaxPasswordLen {
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("VerifyPassword(%q, %d-byte password) = %v, want ErrMismatch", hash, len(pw), err)
			}
			return
		}
		// argon2 ran: the hash must have been well formed and within caps.
		parts := strings.Split(hash, "$")
		if len(parts) != 6 || parts[1] != "argon2id" {
			t.Fatalf("VerifyPassword(%q) = %v, want a format error", hash, err)
		}
		var (
			mem, iters uint32
			threads    uint8
		)
		if _, serr := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iters, &threads); serr != nil {
			t.Fatalf("VerifyPassword(%q) = %v, but its parameters do not parse: %v", hash, err, serr)
		}
		if mem < 1 || mem > 64*1024 || iters < 1 || iters > 10 || threads < 1 {
			t.Fatalf("VerifyPassword(%q) ran argon2 with m=%d t=%d p=%d, beyond the caps", hash, mem, iters, threads)
		}
	})
}
