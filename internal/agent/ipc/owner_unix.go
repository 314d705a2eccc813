//go:build linux || darwin

package ipc

import "os"

func currentOwner() (Owner, error) { return Owner{UID: os.Geteuid()}, nil }

func (o Owner) is(want Owner) bool { return o.UID == want.UID }
