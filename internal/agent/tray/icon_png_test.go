//go:build darwin

package tray

import (
	"bytes"
	"image"
	"image/png"
	"testing"
)

func TestIconPNG(t *testing.T) {
	checkIcons(t, func(s State) (image.Image, error) { return png.Decode(bytes.NewReader(iconPNG(s))) })
}
