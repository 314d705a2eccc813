package protocol

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
)

// Release keys rotate by statements: a key that is trusted signs that
// another key is trusted from now on (add) or that a key is no longer
// trusted (retire). The server hands the statements to agents with every
// update offer; an agent applies those signed by a key it trusts, in
// order, so a chain of rotations reaches agents that slept through some
// of them. Nothing a server says alone can add a key.
const keyDomain = "steward-release-key-v1"

// KeyStatement adds or retires one release key.
type KeyStatement struct {
	// Add is a key in text form (ReleaseKey.String); Retire is a key ID.
	// Exactly one is set.
	Add    string `json:"add,omitempty"`
	Retire string `json:"retire,omitempty"`
}

// SignedBytes is the message the signing key signs.
func (s KeyStatement) SignedBytes() []byte {
	return []byte(keyDomain + "\nadd=" + s.Add + "\nretire=" + s.Retire + "\n")
}

// SignedKeyStatement is a key statement with its signature.
type SignedKeyStatement struct {
	Statement KeyStatement `json:"statement"`
	KeyID     string       `json:"key_id"`
	Signature []byte       `json:"signature"`
}

// SignKeyStatement signs s with priv.
func SignKeyStatement(priv ed25519.PrivateKey, s KeyStatement) (SignedKeyStatement, error) {
	if err := s.validate(); err != nil {
		return SignedKeyStatement{}, err
	}
	pub, ok := priv.Public().(ed25519.PublicKey)
	if !ok {
		return SignedKeyStatement{}, errors.New("release key: not an ed25519 key")
	}
	return SignedKeyStatement{Statement: s, KeyID: ReleaseKeyID(pub), Signature: ed25519.Sign(priv, s.SignedBytes())}, nil
}

func (s KeyStatement) validate() error {
	switch {
	case (s.Add == "") == (s.Retire == ""):
		return errors.New("key statement: exactly one of add and retire")
	case s.Add != "":
		if _, err := ParseReleaseKey(s.Add); err != nil {
			return fmt.Errorf("key statement: %w", err)
		}
	default:
		if err := checkToken("retire", s.Retire, maxIDLen); err != nil {
			return fmt.Errorf("key statement: %w", err)
		}
	}
	return nil
}

// ApplyKeyStatements returns trusted extended and reduced by the
// statements signed by a key trusted at that point, applied in order
// until none changes anything (a statement signed by a key that a later
// statement adds is taken on the next pass). A statement that does not
// verify is skipped and reported in errs. A key may not retire itself
// alone: at least one trusted key is always kept.
func ApplyKeyStatements(trusted []ReleaseKey, statements []SignedKeyStatement) (out []ReleaseKey, errs []error) {
	out = append([]ReleaseKey(nil), trusted...)
	done := make([]bool, len(statements))
	for changed := true; changed; {
		changed = false
		for i, st := range statements {
			if done[i] {
				continue
			}
			signer := -1
			for j, k := range out {
				if k.ID == st.KeyID {
					signer = j
				}
			}
			if signer < 0 {
				continue // perhaps added by a later statement: next pass
			}
			done[i], changed = true, true
			if err := st.Statement.validate(); err != nil {
				errs = append(errs, err)
				continue
			}
			if len(st.Signature) != ed25519.SignatureSize || !ed25519.Verify(out[signer].Pub, st.Statement.SignedBytes(), st.Signature) {
				errs = append(errs, fmt.Errorf("key statement signed by %s: %w", st.KeyID, ErrReleaseBadSignature))
				continue
			}
			if st.Statement.Add != "" {
				k, _ := ParseReleaseKey(st.Statement.Add)
				if !hasKey(out, k.ID) {
					out = append(out, k)
				}
				continue
			}
			if len(out) == 1 {
				errs = append(errs, errors.New("key statement: the last trusted key cannot be retired"))
				continue
			}
			kept := out[:0:0]
			for _, k := range out {
				if k.ID != st.Statement.Retire {
					kept = append(kept, k)
				}
			}
			out = kept
		}
	}
	for i, st := range statements {
		if !done[i] {
			errs = append(errs, fmt.Errorf("key statement signed by %s: %w", st.KeyID, ErrReleaseUnknownKey))
		}
	}
	return out, errs
}

func hasKey(keys []ReleaseKey, id string) bool {
	for _, k := range keys {
		if k.ID == id {
			return true
		}
	}
	return false
}

// DecodeSignedKeyStatement parses a key statement and checks its form.
func DecodeSignedKeyStatement(b []byte) (SignedKeyStatement, error) {
	var s SignedKeyStatement
	if len(b) > MaxSignedReleaseBytes {
		return s, ErrTooLarge
	}
	if err := strictUnmarshal(b, &s); err != nil {
		return SignedKeyStatement{}, fmt.Errorf("decode key statement: %w", err)
	}
	if err := s.Statement.validate(); err != nil {
		return SignedKeyStatement{}, fmt.Errorf("decode key statement: %w", err)
	}
	if s.KeyID == "" {
		return SignedKeyStatement{}, errors.New("decode key statement: missing key_id")
	}
	if err := checkToken("key_id", s.KeyID, maxIDLen); err != nil {
		return SignedKeyStatement{}, fmt.Errorf("decode key statement: %w", err)
	}
	if len(s.Signature) != ed25519.SignatureSize {
		return SignedKeyStatement{}, fmt.Errorf("decode key statement: signature is %d bytes, want %d", len(s.Signature), ed25519.SignatureSize)
	}
	return s, nil
}

// Encode renders s as the JSON DecodeSignedKeyStatement reads.
func (s SignedKeyStatement) Encode() []byte {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil { // only plain fields: cannot fail
		panic(err)
	}
	return append(b, '\n')
}
