package web

// Names the external tests (package web_test) use.
const (
	PageSize         = pageSize
	LoginFailsPerIP  = loginFailsPerIP
	LoginFailsPerKey = loginFailsPerKey
)

// DefaultColumns are the agents list's columns when none are chosen.
func DefaultColumns() []string { return defaultColumns() }

const MsgBadLogin = msgBadLogin
const ContentSecurityPolicy = contentSecurityPolicy
