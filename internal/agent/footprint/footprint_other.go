//go:build !linux

package footprint

// dropCode does nothing here: only Linux is known to keep a program's
// file pages mapped that way.
func dropCode() error { return nil }

const canDropCode = false

// trimmer is Trim's dropCode; it does nothing here either.
type trimmer struct{}

func newTrimmer() *trimmer { return &trimmer{} }

func (*trimmer) drop() error { return nil }
