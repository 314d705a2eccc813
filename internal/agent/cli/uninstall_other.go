//go:build !windows

package cli

import (
	"context"
	"errors"
)

// noMSI is Windows Installer where there is none.
type noMSI struct{}

func platformMSI() msiHost { return noMSI{} }

func (noMSI) Product() string { return "" }
func (noMSI) RunByMSI() bool  { return false }
func (noMSI) Remove(context.Context, string, ...string) error {
	return errors.New("no Windows Installer on this system")
}
