//go:build !linux && !darwin && !windows

package ipc

import (
	"errors"
	"net"
)

func currentOwner() (Owner, error) { return Owner{}, errors.ErrUnsupported }

func (o Owner) is(Owner) bool { return false }

func serverOwner(net.Conn) (Owner, int, error) { return Owner{}, 0, errors.ErrUnsupported }
