package protocol

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func testStatement() ReleaseStatement {
	sum := sha256.Sum256([]byte("agent"))
	return ReleaseStatement{Version: "1.4.0", OS: "linux", Arch: "amd64", Size: 5, SHA256: hex.EncodeToString(sum[:])}
}

func testKey(t *testing.T, seed byte) (ed25519.PrivateKey, ReleaseKey) {
	t.Helper()
	return testKeyF(seed)
}

func testKeyF(seed byte) (ed25519.PrivateKey, ReleaseKey) {
	priv := ed25519.NewKeyFromSeed(bytesOf(seed, ed25519.SeedSize))
	return priv, NewReleaseKey(priv.Public().(ed25519.PublicKey))
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

func TestVerifyRelease(t *testing.T) {
	priv, key := testKey(t, 1)
	otherPriv, otherKey := testKey(t, 2)
	signed, err := SignRelease(priv, testStatement())
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyRelease([]ReleaseKey{otherKey, key}, signed); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	byOther, _ := SignRelease(otherPriv, testStatement())

	tests := []struct {
		name   string
		keys   []ReleaseKey
		mutate func(*SignedRelease)
		want   error
		substr string
	}{
		{name: "unsigned", keys: []ReleaseKey{key}, mutate: func(r *SignedRelease) { r.Signature = nil }, want: ErrReleaseUnsigned},
		{name: "untrusted key", keys: []ReleaseKey{key}, mutate: func(r *SignedRelease) { *r = byOther }, want: ErrReleaseUnknownKey},
		{name: "no keys at all", keys: nil, want: ErrReleaseUnknownKey},
		{name: "other version", keys: []ReleaseKey{key}, mutate: func(r *SignedRelease) { r.Statement.Version = "1.4.1" }, want: ErrReleaseBadSignature},
		{name: "other os", keys: []ReleaseKey{key}, mutate: func(r *SignedRelease) { r.Statement.OS = "windows" }, want: ErrReleaseBadSignature},
		{name: "other arch", keys: []ReleaseKey{key}, mutate: func(r *SignedRelease) { r.Statement.Arch = "arm64" }, want: ErrReleaseBadSignature},
		{name: "other size", keys: []ReleaseKey{key}, mutate: func(r *SignedRelease) { r.Statement.Size = 6 }, want: ErrReleaseBadSignature},
		{name: "other hash", keys: []ReleaseKey{key}, mutate: func(r *SignedRelease) { r.Statement.SHA256 = strings.Repeat("0", 64) }, want: ErrReleaseBadSignature},
		{name: "key id of a trusted key, signature of another", keys: []ReleaseKey{key}, mutate: func(r *SignedRelease) { r.Signature = byOther.Signature }, want: ErrReleaseBadSignature},
		{name: "short signature", keys: []ReleaseKey{key}, mutate: func(r *SignedRelease) { r.Signature = r.Signature[:10] }, want: ErrReleaseBadSignature},
		{name: "bad version", keys: []ReleaseKey{key}, mutate: func(r *SignedRelease) { r.Statement.Version = "1.4" }, substr: "not a semantic version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := signed
			r.Signature = append([]byte(nil), signed.Signature...)
			if tt.mutate != nil {
				tt.mutate(&r)
			}
			err := VerifyRelease(tt.keys, r)
			if err == nil {
				t.Fatal("verified")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.substr != "" && !strings.Contains(err.Error(), tt.substr) {
				t.Fatalf("err = %v, want it to say %q", err, tt.substr)
			}
		})
	}
}

func TestSignedReleaseRoundTrip(t *testing.T) {
	priv, key := testKey(t, 3)
	signed, err := SignRelease(priv, testStatement())
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeSignedRelease(signed.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyRelease([]ReleaseKey{key}, back); err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseReleaseKey(" " + key.String() + "\n")
	if err != nil || parsed.ID != key.ID || !parsed.Pub.Equal(key.Pub) {
		t.Fatalf("ParseReleaseKey(String()) = %v, %v", parsed, err)
	}
}

func TestParseReleaseKeyErrors(t *testing.T) {
	for _, in := range []string{"", "ssh-ed25519 AAAA", ReleaseKeyPrefix + "!!!", ReleaseKeyPrefix + "AAAA"} {
		if _, err := ParseReleaseKey(in); err == nil {
			t.Errorf("ParseReleaseKey(%q) accepted", in)
		}
	}
}

func TestValidVersion(t *testing.T) {
	for v, want := range map[string]bool{
		"1.0.0": true, "0.9.12": true, "1.5.0-beta.2": true, "2.0.0-rc1": true,
		"": false, "1": false, "1.2": false, "v1.2.3": false, "1.2.3+build": false,
		"01.2.3": false, "1.2.3.4": false, "1.2.x": false, " 1.2.3": false,
	} {
		if got := ValidVersion(v); got != want {
			t.Errorf("ValidVersion(%q) = %v, want %v", v, got, want)
		}
	}
	ordered := []string{"0.9.0", "1.0.0-beta.1", "1.0.0-beta.2", "1.0.0", "1.0.1", "1.10.0"}
	for i := 1; i < len(ordered); i++ {
		if CompareVersions(ordered[i-1], ordered[i]) != -1 || CompareVersions(ordered[i], ordered[i-1]) != 1 {
			t.Errorf("%s should sort before %s", ordered[i-1], ordered[i])
		}
	}
}

func FuzzDecodeSignedRelease(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(bytesOf(7, ed25519.SeedSize))
	signed, _ := SignRelease(priv, testStatement())
	f.Add(signed.Encode())
	f.Add([]byte(`{"statement":{"version":"1.0.0","os":"linux","arch":"amd64","size":1,"sha256":"00"},"key_id":"x","signature":""}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeSignedRelease(b)
		if err != nil {
			return
		}
		if err := r.Statement.Validate(); err != nil {
			t.Fatalf("accepted an invalid statement: %v", err)
		}
		checkTokenInvariant(t, "key_id", r.KeyID, maxIDLen)
		if len(r.Signature) != ed25519.SignatureSize {
			t.Fatalf("accepted a %d-byte signature", len(r.Signature))
		}
		if !ValidVersion(r.Statement.Version) {
			t.Fatalf("accepted version %q", r.Statement.Version)
		}
	})
}

func TestRollbackStatements(t *testing.T) {
	priv, key := testKey(t, 1)
	st := testStatement()
	rb, err := SignRollback(priv, st)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeSignedRollback(rb.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyRollback([]ReleaseKey{key}, back, st); err != nil {
		t.Fatal(err)
	}
	other := st
	other.SHA256 = strings.Repeat("1", 64)
	if err := VerifyRollback([]ReleaseKey{key}, back, other); err == nil {
		t.Error("a rollback verified for another build")
	}
	// A release signature is not a rollback signature: the domains differ.
	signed, _ := SignRelease(priv, st)
	forged := SignedRollback{Statement: rb.Statement, KeyID: signed.KeyID, Signature: signed.Signature}
	if err := VerifyRollback([]ReleaseKey{key}, forged, st); !errors.Is(err, ErrReleaseBadSignature) {
		t.Errorf("a release signature passed as a rollback: %v", err)
	}
}

func FuzzDecodeSignedRollback(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(bytesOf(7, ed25519.SeedSize))
	rb, _ := SignRollback(priv, testStatement())
	f.Add(rb.Encode())
	f.Add([]byte(`{"statement":{},"key_id":"x","signature":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeSignedRollback(b)
		if err != nil {
			return
		}
		if !ValidVersion(r.Statement.Version) || len(r.Signature) != ed25519.SignatureSize {
			t.Fatalf("accepted %+v", r)
		}
		checkTokenInvariant(t, "key_id", r.KeyID, maxIDLen)
	})
}
