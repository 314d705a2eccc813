package tray

import (
	"bytes"
	"encoding/binary"
	"image"
	"testing"
)

func TestDrawIcon(t *testing.T) {
	checkIcons(t, func(s State) (image.Image, error) { return drawIcon(s), nil })
}

// checkIcons checks the icon of every state as icon returns it: size,
// transparent corners, the state's colour on the disc, told apart from
// the others, and the white mark in the middle.
func checkIcons(t *testing.T, icon func(State) (image.Image, error)) {
	t.Helper()
	seen := map[[4]uint8]State{}
	for _, s := range []State{StateConnected, StateDisconnected, StateAttention} {
		img, err := icon(s)
		if err != nil {
			t.Fatalf("%v icon: %v", s, err)
		}
		if got := img.Bounds().Dx(); got != iconSize {
			t.Errorf("%v icon is %d px wide, want %d", s, got, iconSize)
		}
		if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
			t.Errorf("%v icon corner alpha %d, want transparent", s, a)
		}
		// A point on the disc outside every mark shows the state colour.
		r, g, b, a := img.At(iconSize/2, 3).RGBA()
		key := [4]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
		want := stateColors[s]
		if key != [4]uint8{want.R, want.G, want.B, want.A} {
			t.Errorf("%v icon colour %v, want %v", s, key, want)
		}
		if other, dup := seen[key]; dup {
			t.Errorf("%v and %v icons have the same colour", s, other)
		}
		seen[key] = s
		if r, g, b, _ := img.At(iconSize/2, iconSize/2+1).RGBA(); r>>8 != 0xff || g>>8 != 0xff || b>>8 != 0xff {
			t.Errorf("%v icon centre is not the white mark", s)
		}
	}
}

func TestIconICO(t *testing.T) {
	for _, s := range []State{StateConnected, StateDisconnected, StateAttention} {
		ico := iconICO(s)
		var dir struct {
			Reserved, Type, Count uint16
			W, H, Colors, _       uint8
			Planes, Bits          uint16
			Size, Offset          uint32
			HdrSize, BW, BH       int32
		}
		if err := binary.Read(bytes.NewReader(ico), binary.LittleEndian, &dir); err != nil {
			t.Fatalf("read %v ico header: %v", s, err)
		}
		if dir.Type != 1 || dir.Count != 1 || dir.W != iconSize || dir.Bits != 32 || dir.HdrSize != 40 ||
			dir.BW != iconSize || dir.BH != 2*iconSize {
			t.Errorf("%v ico header %+v", s, dir)
		}
		if int(dir.Offset)+int(dir.Size) != len(ico) {
			t.Errorf("%v ico: offset %d + size %d != file size %d", s, dir.Offset, dir.Size, len(ico))
		}
		// The top row of the image is stored last: check a pixel at (16,3).
		img := drawIcon(s)
		row := iconSize - 1 - 3
		off := int(dir.Offset) + 40 + (row*iconSize+iconSize/2)*4
		c := img.NRGBAAt(iconSize/2, 3)
		if got, want := ico[off:off+4], []byte{c.B, c.G, c.R, c.A}; !bytes.Equal(got, want) {
			t.Errorf("%v ico pixel (16,3) = %v, want BGRA %v", s, got, want)
		}
	}
}
