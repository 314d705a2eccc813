package manage

import (
	"context"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// MaxKeyStatements bounds the stored key statements: every update offer
// carries them all.
const MaxKeyStatements = 32

// KeyStatements returns the stored release key statements, oldest first.
func (s *Service) KeyStatements(ctx context.Context) ([]protocol.SignedKeyStatement, error) {
	return s.db.KeyStatements(ctx)
}

// TrustedReleaseKeys is the configured keys as the stored statements
// extend and reduce them.
func (s *Service) TrustedReleaseKeys(ctx context.Context, configured []protocol.ReleaseKey) ([]protocol.ReleaseKey, error) {
	sts, err := s.KeyStatements(ctx)
	if err != nil {
		return nil, err
	}
	keys, _ := protocol.ApplyKeyStatements(configured, sts)
	return keys, nil
}

// AddKeyStatement stores a key statement after checking it is signed by
// a key trusted now (configured, or added by an earlier statement).
func (s *Service) AddKeyStatement(ctx context.Context, p access.Principal, configured []protocol.ReleaseKey, st protocol.SignedKeyStatement) ([]protocol.ReleaseKey, error) {
	if err := access.Require(p, access.ManageUpdates); err != nil {
		return nil, err
	}
	if len(configured) == 0 {
		return nil, ErrNoReleaseKeys
	}
	existing, err := s.KeyStatements(ctx)
	if err != nil {
		return nil, err
	}
	if len(existing) >= MaxKeyStatements {
		return nil, input.Errorf("statement", "at most %d key statements are kept", MaxKeyStatements)
	}
	trusted, _ := protocol.ApplyKeyStatements(configured, existing)
	after, errs := protocol.ApplyKeyStatements(trusted, []protocol.SignedKeyStatement{st})
	if len(errs) > 0 {
		return nil, input.Errorf("statement", "%v", errs[0])
	}
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		if err := tx.AddKeyStatement(ctx, st.KeyID, string(st.Encode()), p.ActorName()); err != nil {
			return err
		}
		detail := map[string]string{"signer": st.KeyID}
		if st.Statement.Add != "" {
			k, _ := protocol.ParseReleaseKey(st.Statement.Add)
			detail["add"] = k.ID
		} else {
			detail["retire"] = st.Statement.Retire
		}
		return tx.AddAudit(ctx, p.Audit("release.key", "release_key", st.KeyID, detail))
	})
	if err != nil {
		return nil, err
	}
	return after, nil
}
