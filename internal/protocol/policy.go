package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Policy messages: the server sends an agent its effective policy in the
// welcome and whenever it changes; the agent applies it without a restart
// and acknowledges the revision it now runs.
const (
	TypePolicy    = "policy"     // server → agent: PolicyUpdate
	TypePolicyAck = "policy_ack" // agent → server: PolicyAck
)

// MaxPolicyBytes bounds an effective policy document. The largest valid
// one, every list at its bound, is about 42 KB (the policy package tests
// it), so a policy message stays within MaxMessageBytes.
const MaxPolicyBytes = 48 << 10

// PolicyUpdate carries an agent's effective policy. Policy is the policy's
// canonical JSON: every field set, nested by section, e.g.
// {"metrics": {"interval": "60s", ...}, ...}. Revision identifies it.
type PolicyUpdate struct {
	Revision string          `json:"revision"`
	Policy   json.RawMessage `json:"policy"`
}

// PolicyAck tells the server which policy revision the agent runs.
type PolicyAck struct {
	Revision string `json:"revision"`
}

// DecodePolicyUpdate parses a policy update from the server.
func DecodePolicyUpdate(data json.RawMessage) (PolicyUpdate, error) {
	var p PolicyUpdate
	if len(data) > MaxPolicyBytes+1024 {
		return p, ErrTooLarge
	}
	if err := strictUnmarshal(data, &p); err != nil {
		return PolicyUpdate{}, fmt.Errorf("decode policy: %w", err)
	}
	if err := checkToken("revision", p.Revision, maxIDLen); err != nil || p.Revision == "" {
		return PolicyUpdate{}, errors.New("decode policy: revision must be a short token")
	}
	if len(p.Policy) == 0 || !json.Valid(p.Policy) || p.Policy[0] != '{' {
		return PolicyUpdate{}, errors.New("decode policy: policy must be a JSON object")
	}
	return p, nil
}

// DecodePolicyAck parses an agent's acknowledgement.
func DecodePolicyAck(data json.RawMessage) (PolicyAck, error) {
	var a PolicyAck
	if err := strictUnmarshal(data, &a); err != nil {
		return PolicyAck{}, fmt.Errorf("decode policy_ack: %w", err)
	}
	if a.Revision == "" {
		return PolicyAck{}, errors.New("decode policy_ack: revision is required")
	}
	if err := checkToken("revision", a.Revision, maxIDLen); err != nil {
		return PolicyAck{}, fmt.Errorf("decode policy_ack: %w", err)
	}
	return a, nil
}
