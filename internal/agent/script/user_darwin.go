package script

import (
	"fmt"
	"os"
	"syscall"
)

// sessionUser is the user at the console: the owner of /dev/console
// (root while the login window shows).
func sessionUser() (*account, error) {
	fi, err := os.Stat("/dev/console")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil, ErrNoUser
	}
	return lookupAccount(st.Uid)
}
