package tray

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"math"
)

// iconSize is the side of the drawn icon in pixels; notification areas
// scale it to 16-24 px at 100% and keep it sharp at 150-200%.
const iconSize = 32

// The icon colours, chosen to be told apart by people with the common
// forms of colour blindness too: the white mark inside differs as well.
var stateColors = map[State]color.NRGBA{
	StateConnected:    {0x1f, 0x8a, 0x4c, 0xff}, // green, white dot
	StateDisconnected: {0x6b, 0x6b, 0x6b, 0xff}, // grey, white bar
	StateAttention:    {0xd9, 0x74, 0x00, 0xff}, // orange, white "!"
}

// drawIcon draws the icon for s: a disc in the state's colour with a white
// mark. Shapes are sampled 4×4 per pixel so the edges are smooth without
// any image asset in the binary.
func drawIcon(s State) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, iconSize, iconSize))
	bg := stateColors[s]
	const sub = 4
	c := float64(iconSize) / 2
	for y := range iconSize {
		for x := range iconSize {
			var disc, mark int
			for sy := range sub {
				for sx := range sub {
					px := float64(x) + (float64(sx)+0.5)/sub
					py := float64(y) + (float64(sy)+0.5)/sub
					if math.Hypot(px-c, py-c) > c-0.5 {
						continue
					}
					disc++
					if inMark(s, px-c, py-c) {
						mark++
					}
				}
			}
			if disc == 0 {
				continue
			}
			// Blend white over the background by the mark's coverage.
			f := float64(mark) / float64(disc)
			blend := func(v uint8) uint8 { return uint8(math.Round(float64(v)*(1-f) + 255*f)) }
			img.SetNRGBA(x, y, color.NRGBA{blend(bg.R), blend(bg.G), blend(bg.B), uint8(255 * disc / (sub * sub))})
		}
	}
	return img
}

// inMark reports whether the point (dx, dy) from the centre is in the
// state's white mark.
func inMark(s State, dx, dy float64) bool {
	switch s {
	case StateConnected:
		return math.Hypot(dx, dy) < 5.5
	case StateAttention:
		bar := math.Abs(dx) < 2.2 && dy > -10 && dy < 3
		dot := math.Hypot(dx, dy-7) < 2.4
		return bar || dot
	default:
		return math.Abs(dx) < 8.5 && math.Abs(dy) < 2.2
	}
}

// iconICO returns the icon for s as a Windows .ico holding one 32-bit
// bitmap: the format LoadImage reads on every Windows version (and wine),
// where PNG inside ICO needs Vista or later.
func iconICO(s State) []byte {
	img := drawIcon(s)
	w, h := img.Rect.Dx(), img.Rect.Dy()
	maskRow := (w + 31) / 32 * 4
	pixels := w * h * 4
	dib := 40 + pixels + maskRow*h
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	// ICONDIR and its one ICONDIRENTRY.
	le([3]uint16{0, 1, 1})
	le([4]uint8{uint8(w), uint8(h), 0, 0})
	le([2]uint16{1, 32})
	le([2]uint32{uint32(dib), 6 + 16})
	// BITMAPINFOHEADER: the height counts the colour and mask bitmaps.
	le([3]int32{40, int32(w), int32(2 * h)})
	le([2]uint16{1, 32})
	le([6]uint32{0, uint32(pixels + maskRow*h), 0, 0, 0, 0})
	// BGRA rows, bottom-up; the AND mask stays clear since alpha rules.
	for y := h - 1; y >= 0; y-- {
		for x := range w {
			c := img.NRGBAAt(x, y)
			b.Write([]byte{c.B, c.G, c.R, c.A})
		}
	}
	b.Write(make([]byte, maskRow*h))
	return b.Bytes()
}
