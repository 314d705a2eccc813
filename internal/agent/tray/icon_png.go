//go:build darwin

package tray

// Only the macOS status item takes PNG: this file is built there alone,
// since importing image/png links its decoder (registered at package
// load) into every build, 40 kB of the Linux and Windows agents.

import (
	"bytes"
	"image/png"
)

// iconPNG returns the icon for s as PNG.
func iconPNG(s State) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, drawIcon(s)); err != nil {
		panic("encode a drawn icon: " + err.Error()) // cannot fail writing to memory
	}
	return b.Bytes()
}
