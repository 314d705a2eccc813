package script

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/windows"
)

// account is the logged-in user a script runs as: the token of the
// active console session's user. nil is the agent's own account (SYSTEM).
type account struct {
	token windows.Token
	sid   string
	name  string
}

// sessionUser is the user of the active console session (the one at the
// machine's screen, not a remote desktop session).
func sessionUser() (*account, error) {
	session := windows.WTSGetActiveConsoleSessionId()
	if session == 0xFFFFFFFF {
		return nil, ErrNoUser
	}
	var tok windows.Token
	if err := windows.WTSQueryUserToken(session, &tok); err != nil {
		if errors.Is(err, windows.ERROR_NO_TOKEN) {
			return nil, ErrNoUser
		}
		return nil, fmt.Errorf("token of the console session's user: %w", err)
	}
	u, err := tok.GetTokenUser()
	if err != nil {
		tok.Close()
		return nil, fmt.Errorf("user of the console session: %w", err)
	}
	a := &account{token: tok, sid: u.User.Sid.String()}
	if acct, dom, _, err := u.User.Sid.LookupAccount(""); err == nil {
		a.name = dom + `\` + acct
	} else {
		a.name = a.sid
	}
	return a, nil
}

func (a *account) String() string {
	if a == nil {
		return "SYSTEM"
	}
	return a.name
}

func (a *account) other() bool { return a != nil }

func (a *account) close() {
	if a != nil {
		a.token.Close()
	}
}

// share gives the user the run's directory and, through inheritance, its
// script (traversing the agent's directories above it needs no right on
// Windows: everyone has the bypass-traverse privilege).
func (a *account) share(dir, _ string) error {
	if a == nil {
		return nil
	}
	return setDACL(dir, agentOnly+"(A;OICI;FA;;;"+a.sid+")")
}

// apply makes cmd run with the user's token, in their session.
func (a *account) apply(cmd *exec.Cmd) error {
	if a == nil {
		return nil
	}
	sysProcAttr(cmd).Token = syscall.Token(a.token)
	return nil
}

// environ is the user's own environment (their profile, TEMP, ...) for a
// run as the user; the agent's otherwise.
func (a *account) environ() []string {
	if a == nil {
		return os.Environ()
	}
	env, err := a.token.Environ(false)
	if err != nil {
		return os.Environ()
	}
	return env
}

// userRunsDir: the agent's run directory serves every user (see share).
func userRunsDir(runs string) string { return runs }
