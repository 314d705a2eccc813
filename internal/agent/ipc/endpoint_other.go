//go:build !linux && !darwin && !windows

package ipc

import (
	"context"
	"errors"
	"net"
)

// DefaultEndpoint is empty: this OS has no agent endpoint yet.
func DefaultEndpoint() string { return "" }

func listen(string) (net.Listener, error) { return nil, errors.ErrUnsupported }

func dial(context.Context, string) (net.Conn, error) { return nil, errors.ErrUnsupported }

func peerIdentity(net.Conn) (Caller, error) { return Caller{}, errors.ErrUnsupported }
