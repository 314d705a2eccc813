package protocol

import (
	"errors"
	"testing"
)

func TestApplyKeyStatements(t *testing.T) {
	privA, keyA := testKey(t, 1)
	privB, keyB := testKey(t, 2)
	_, keyC := testKey(t, 3)
	privX, _ := testKey(t, 9) // never trusted
	sign := func(priv []byte, s KeyStatement) SignedKeyStatement {
		t.Helper()
		st, err := SignKeyStatement(priv, s)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	addB := sign(privA, KeyStatement{Add: keyB.String()})
	addC := sign(privB, KeyStatement{Add: keyC.String()})
	retireA := sign(privB, KeyStatement{Retire: keyA.ID})

	ids := func(keys []ReleaseKey) string {
		s := ""
		for _, k := range keys {
			s += k.ID[:4] + " "
		}
		return s
	}
	// Out of order: C's statement is signed by B, which A's adds.
	got, errs := ApplyKeyStatements([]ReleaseKey{keyA}, []SignedKeyStatement{addC, addB})
	if len(errs) != 0 || !hasKey(got, keyB.ID) || !hasKey(got, keyC.ID) || len(got) != 3 {
		t.Fatalf("chain: %s %v", ids(got), errs)
	}
	// Rotation: B added by A, then A retired by B.
	got, errs = ApplyKeyStatements([]ReleaseKey{keyA}, []SignedKeyStatement{addB, retireA})
	if len(errs) != 0 || hasKey(got, keyA.ID) || !hasKey(got, keyB.ID) {
		t.Fatalf("rotation: %s %v", ids(got), errs)
	}
	// An untrusted signer adds nothing.
	foreign := sign(privX, KeyStatement{Add: keyC.String()})
	got, errs = ApplyKeyStatements([]ReleaseKey{keyA}, []SignedKeyStatement{foreign})
	if len(got) != 1 || len(errs) != 1 || !errors.Is(errs[0], ErrReleaseUnknownKey) {
		t.Fatalf("foreign: %s %v", ids(got), errs)
	}
	// A statement changed after signing does not verify.
	tampered := addB
	tampered.Statement.Add = keyC.String()
	got, errs = ApplyKeyStatements([]ReleaseKey{keyA}, []SignedKeyStatement{tampered})
	if len(got) != 1 || len(errs) != 1 || !errors.Is(errs[0], ErrReleaseBadSignature) {
		t.Fatalf("tampered: %s %v", ids(got), errs)
	}
	// The last trusted key stays.
	selfRetire := sign(privA, KeyStatement{Retire: keyA.ID})
	got, errs = ApplyKeyStatements([]ReleaseKey{keyA}, []SignedKeyStatement{selfRetire})
	if len(got) != 1 || len(errs) != 1 {
		t.Fatalf("last key retired: %s %v", ids(got), errs)
	}
	if _, err := SignKeyStatement(privA, KeyStatement{Add: keyB.String(), Retire: keyA.ID}); err == nil {
		t.Error("a statement that adds and retires was signed")
	}
	back, err := DecodeSignedKeyStatement(addB.Encode())
	if err != nil || back.Statement != addB.Statement {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}

func FuzzDecodeSignedKeyStatement(f *testing.F) {
	priv, _ := testKeyF(1)
	_, keyB := testKeyF(2)
	st, _ := SignKeyStatement(priv, KeyStatement{Add: keyB.String()})
	f.Add(st.Encode())
	f.Add([]byte(`{"statement":{"retire":"abc"},"key_id":"k","signature":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSignedKeyStatement(b)
		if err != nil {
			return
		}
		if (s.Statement.Add == "") == (s.Statement.Retire == "") {
			t.Fatalf("accepted %+v", s.Statement)
		}
		checkTokenInvariant(t, "key_id", s.KeyID, maxIDLen)
	})
}
