package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Agent updates on the control channel.
//
// The server offers a release (an UpdateOffer); the agent reports each
// step with TypeUpdateStatus (no answer from the server). After the swap
// the agent restarts on the new binary and says in its hello
// (Facts.Update) which update it is running; the server confirms it in the
// welcome itself (Welcome.UpdateConfirmed), so the agent never waits for a
// later message to know it may delete its backup.
//
// The offer travels as a command (CommandUpdate, Args an UpdateOffer), so
// that it is queued for an offline agent, survives a server restart,
// crosses replicas and is run once however often it is delivered; the
// agent answers the command as soon as it accepts or refuses the offer and
// reports the steps with TypeUpdateStatus.
const (
	CommandUpdate    = "update"
	TypeUpdateStatus = "update_status" // agent → server: UpdateStatus
)

// Update steps an agent reports, in order; refused, failed, rolled_back and
// cancelled end an update that did not happen.
const (
	// UpdateWaiting: the agent took the offer and waits for its policy's
	// maintenance window; Reason says which and until when.
	UpdateWaiting     = "waiting"
	UpdateDownloading = "downloading"
	UpdateVerified    = "verified" // size, SHA-256, signature and the staged binary's self-check passed
	UpdateSwapped     = "swapped"  // the new binary is in place; the agent restarts on it
	UpdateConfirmed   = "confirmed"
	UpdateRefused     = "refused" // the offer was not taken: Reason says why
	UpdateFailed      = "failed"  // a step failed before the swap; the agent runs on as it was
	UpdateRolledBack  = "rolled_back"
	// UpdateCancelled: the server called the offer back before the agent
	// downloaded it (the release's rollout was halted or it was
	// withdrawn). Not a failure: the version may be offered again.
	UpdateCancelled = "cancelled"
)

// DefaultConfirmDeadline is how long a swapped agent has to come back and
// be confirmed before its watchdog restores the previous binary.
const DefaultConfirmDeadline = 5 * time.Minute

// UpdateOffer asks an agent to update to a release.
type UpdateOffer struct {
	ReleaseID string        `json:"release_id"`
	Release   SignedRelease `json:"release"`
	// ConfirmDeadline bounds the time from swap to confirmation; zero
	// means DefaultConfirmDeadline.
	ConfirmDeadline Duration `json:"confirm_deadline,omitempty"`
	// Retry asks the agent to try a version that failed on it before.
	Retry bool `json:"retry,omitempty"`
	// Rollback, when the release is older than what the agent runs, is
	// the signed instruction that allows going back to it.
	Rollback *SignedRollback `json:"rollback,omitempty"`
	// Keys are the release key statements the server holds: the agent
	// applies those signed by keys it trusts before it checks the release.
	Keys []SignedKeyStatement `json:"keys,omitempty"`
	// Spread asks the agent to wait a random time up to this long before
	// it downloads, so that many agents offered at once do not all
	// download at once.
	Spread Duration `json:"spread,omitempty"`
}

// UpdateStatus reports one step of an update.
type UpdateStatus struct {
	ReleaseID   string    `json:"release_id"`
	FromVersion string    `json:"from_version"`
	ToVersion   string    `json:"to_version"`
	Step        string    `json:"step"`
	At          time.Time `json:"at"`
	Reason      string    `json:"reason,omitempty"`
	// Log is an excerpt of what went wrong (a failed self-check's output,
	// the last lines the new version logged before it was rolled back).
	Log string `json:"log,omitempty"`
	// Done and Total count downloaded bytes while downloading.
	Done  int64 `json:"done,omitempty"`
	Total int64 `json:"total,omitempty"`
}

// PendingUpdate is what an agent that swapped in a new binary says in its
// hello until the server confirms it.
type PendingUpdate struct {
	ReleaseID   string `json:"release_id"`
	FromVersion string `json:"from_version"`
	ToVersion   string `json:"to_version"`
}

// Bounds of update messages.
const (
	maxUpdateLogLen = 4096
)

var updateSteps = map[string]bool{
	UpdateWaiting: true, UpdateDownloading: true, UpdateVerified: true, UpdateSwapped: true, UpdateConfirmed: true,
	UpdateRefused: true, UpdateFailed: true, UpdateRolledBack: true, UpdateCancelled: true,
}

// DecodeUpdateOffer parses and checks an offer's form (the agent checks
// the signature itself, against the keys it trusts).
func DecodeUpdateOffer(data json.RawMessage) (UpdateOffer, error) {
	var o UpdateOffer
	if len(data) == 0 {
		return o, errors.New("decode update offer: missing data")
	}
	if err := strictUnmarshal(data, &o); err != nil {
		return UpdateOffer{}, fmt.Errorf("decode update offer: %w", err)
	}
	if o.ReleaseID == "" {
		return UpdateOffer{}, errors.New("decode update offer: missing release_id")
	}
	if err := checkToken("release_id", o.ReleaseID, maxIDLen); err != nil {
		return UpdateOffer{}, fmt.Errorf("decode update offer: %w", err)
	}
	if err := o.Release.Statement.Validate(); err != nil {
		return UpdateOffer{}, fmt.Errorf("decode update offer: %w", err)
	}
	if o.ConfirmDeadline < 0 || time.Duration(o.ConfirmDeadline) > 24*time.Hour {
		return UpdateOffer{}, errors.New("decode update offer: confirm_deadline must be between 0 and 24h")
	}
	if o.Spread < 0 || time.Duration(o.Spread) > 24*time.Hour {
		return UpdateOffer{}, errors.New("decode update offer: spread must be between 0 and 24h")
	}
	return o, nil
}

// DecodeUpdateStatus parses and checks an agent's update report.
func DecodeUpdateStatus(data json.RawMessage) (UpdateStatus, error) {
	var s UpdateStatus
	if len(data) == 0 {
		return s, errors.New("decode update status: missing data")
	}
	if err := strictUnmarshal(data, &s); err != nil {
		return UpdateStatus{}, fmt.Errorf("decode update status: %w", err)
	}
	if s.ReleaseID == "" {
		return UpdateStatus{}, errors.New("decode update status: missing release_id")
	}
	if err := checkToken("release_id", s.ReleaseID, maxIDLen); err != nil {
		return UpdateStatus{}, fmt.Errorf("decode update status: %w", err)
	}
	if !updateSteps[s.Step] {
		return UpdateStatus{}, fmt.Errorf("decode update status: unknown step %q", truncate(s.Step))
	}
	for _, f := range []struct{ name, v string }{{"from_version", s.FromVersion}, {"to_version", s.ToVersion}} {
		if len(f.v) > maxVersionLen {
			return UpdateStatus{}, fmt.Errorf("decode update status: %s is longer than %d bytes", f.name, maxVersionLen)
		}
		if err := checkText(f.name, f.v); err != nil {
			return UpdateStatus{}, fmt.Errorf("decode update status: %w", err)
		}
	}
	if err := checkLongText("reason", s.Reason, MaxReasonLen, false); err != nil {
		return UpdateStatus{}, fmt.Errorf("decode update status: %w", err)
	}
	if err := checkLongText("log", s.Log, maxUpdateLogLen, true); err != nil {
		return UpdateStatus{}, fmt.Errorf("decode update status: %w", err)
	}
	if s.Done < 0 || s.Total < 0 || s.Done > MaxReleaseBytes || s.Total > MaxReleaseBytes {
		return UpdateStatus{}, errors.New("decode update status: done and total must be byte counts within the release bound")
	}
	return s, nil
}

// Validate checks a pending update reported in a hello.
func (p PendingUpdate) Validate() error {
	if p.ReleaseID == "" {
		return errors.New("update: missing release_id")
	}
	if err := checkToken("update.release_id", p.ReleaseID, maxIDLen); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"update.from_version", p.FromVersion}, {"update.to_version", p.ToVersion}} {
		if len(f.v) > maxVersionLen {
			return fmt.Errorf("%s is longer than %d bytes", f.name, maxVersionLen)
		}
		if err := checkText(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}
