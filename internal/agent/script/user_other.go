//go:build unix && !linux && !darwin

package script

import "fmt"

// sessionUser: this OS has no session look-up yet.
func sessionUser() (*account, error) {
	return nil, fmt.Errorf("finding the logged-in user is not supported on this OS: %w", ErrNoUser)
}
