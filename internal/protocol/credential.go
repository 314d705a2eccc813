package protocol

import (
	"strings"
)

// AuthScheme is the HTTP Authorization scheme an agent uses on the control
// channel: "Authorization: Agent <agent_id>.<agent_secret>".
const AuthScheme = "Agent"

// FormatCredential builds the Authorization header value for an agent.
func FormatCredential(agentID, secret string) string {
	return AuthScheme + " " + agentID + "." + secret
}

// ParseCredential splits an Authorization header value into agent ID and
// secret. Agent IDs and secrets never contain dots.
func ParseCredential(header string) (agentID, secret string, ok bool) {
	scheme, rest, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, AuthScheme) {
		return "", "", false
	}
	agentID, secret, found = strings.Cut(strings.TrimSpace(rest), ".")
	if !found || agentID == "" || secret == "" || len(agentID) > maxIDLen || len(secret) > maxTokenLen {
		return "", "", false
	}
	if checkToken("agent id", agentID, maxIDLen) != nil || checkToken("secret", secret, maxTokenLen) != nil {
		return "", "", false
	}
	return agentID, secret, true
}
