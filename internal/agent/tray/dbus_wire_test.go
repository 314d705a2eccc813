//go:build linux

package tray

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/google/go-cmp/cmp"
)

// godbusMessage encodes a method call the way godbus (an independent
// implementation) puts it on the wire, in the given byte order.
func godbusMessage(t testing.TB, order binary.ByteOrder, serial uint32, body ...any) []byte {
	t.Helper()
	m := &dbus.Message{Type: dbus.TypeMethodCall, Flags: dbus.FlagNoAutoStart, Body: body, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldDestination: dbus.MakeVariant("org.example.Dest"),
		dbus.FieldPath:        dbus.MakeVariant(dbus.ObjectPath("/com/example/Obj")),
		dbus.FieldInterface:   dbus.MakeVariant("org.example.Iface"),
		dbus.FieldMember:      dbus.MakeVariant("Method"),
		dbus.FieldSender:      dbus.MakeVariant(":1.42"),
	}}
	if len(body) > 0 {
		m.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(body...))
	}
	var b bytes.Buffer
	if err := m.EncodeTo(&b, order); err != nil {
		t.Fatal(err)
	}
	// godbus sets serials as it sends; this one was not sent.
	order.PutUint32(b.Bytes()[8:], serial)
	return b.Bytes()
}

// TestReadGodbusMessages reads what godbus writes, in both byte orders,
// with the argument types panels send.
func TestReadGodbusMessages(t *testing.T) {
	body := []any{int32(-3), "clicked", dbus.MakeVariant(uint32(7)), uint32(12),
		[]int32{1, 2}, []string{"label", ""}, map[string]dbus.Variant{"a": dbus.MakeVariant([]byte{1, 2})},
		[]menuEvent{{ID: 4, Event: "hovered", Data: dbus.MakeVariant(""), Timestamp: 9}}, true, uint64(1) << 40, 2.5, int16(-2)}
	want := []any{int32(-3), "clicked", variant{sig: "u", value: uint32(7)}, uint32(12),
		[]any{int32(1), int32(2)}, []any{"label", ""}, []any{dictEntry{Key: "a", Value: variant{sig: "ay", value: []any{byte(1), byte(2)}}}},
		[]any{[]any{int32(4), "hovered", variant{sig: "s", value: ""}, uint32(9)}}, true, uint64(1) << 40, 2.5, int16(-2)}
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		m, err := readMessage(bytes.NewReader(godbusMessage(t, order, 77, body...)))
		if err != nil {
			t.Fatalf("%v: %v", order, err)
		}
		if m.typ != msgCall || m.serial != 77 || m.path != "/com/example/Obj" || m.iface != "org.example.Iface" ||
			m.member != "Method" || m.dest != "org.example.Dest" || m.sender != ":1.42" || m.sig != "isvuaiasa{sv}a(isvu)btdn" {
			t.Errorf("%v: header %+v", order, m)
		}
		if diff := cmp.Diff(want, m.body, cmp.AllowUnexported(variant{})); diff != "" {
			t.Errorf("%v: body (-want +got):\n%s", order, diff)
		}
	}
}

// TestGodbusReadsOurs: what we write, godbus reads back as the same values.
func TestGodbusReadsOurs(t *testing.T) {
	layout := menuLayout{ID: 0, Props: map[string]variant{"children-display": makeVariant("submenu")},
		Children: []variant{makeVariant(menuLayout{ID: 3, Props: map[string]variant{"enabled": makeVariant(false)}, Children: []variant{}})}}
	tip := sniTooltip{Pixmaps: []sniPixmap{{W: 1, H: 1, Data: []byte{1, 2, 3, 4}}}, Title: "t"}
	var b bytes.Buffer
	c := &busConn{c: writeConn{&b}}
	args := []any{uint32(5), layout, makeVariant(tip), []menuProps{{ID: 2, Props: map[string]variant{}}}, objectPath("/MenuBar"), []int32{}, int64(-1)}
	if err := c.send(&dbusMessage{typ: msgSignal, serial: 9, path: "/MenuBar", iface: "com.example", member: "Sig"}, args); err != nil {
		t.Fatal(err)
	}
	m, err := dbus.DecodeMessage(&b)
	if err != nil {
		t.Fatalf("godbus cannot decode our message: %v", err)
	}
	if got := m.Headers[dbus.FieldSignature].Value(); got != dbus.ParseSignatureMust("u(ia{sv}av)va(ia{sv})oaix") {
		t.Errorf("signature %v", got)
	}
	var rev uint32
	var l struct {
		ID       int32
		Props    map[string]dbus.Variant
		Children []dbus.Variant
	}
	var v dbus.Variant
	if err := dbus.Store(m.Body[:3], &rev, &l, &v); err != nil {
		t.Fatal(err)
	}
	if rev != 5 || l.Props["children-display"].Value() != "submenu" || len(l.Children) != 1 {
		t.Errorf("layout %d %+v", rev, l)
	}
	child, _ := l.Children[0].Value().([]any)
	if len(child) != 3 || child[0] != int32(3) {
		t.Errorf("child %#v", l.Children[0].Value())
	}
	tv, _ := v.Value().([]any)
	if len(tv) != 4 || tv[2] != "t" {
		t.Fatalf("tooltip %#v", v.Value())
	}
	if px, _ := tv[1].([][]any); len(px) != 1 || !bytes.Equal(px[0][2].([]byte), []byte{1, 2, 3, 4}) {
		t.Errorf("tooltip pixmaps %#v", tv[1])
	}
	if m.Body[4] != dbus.ObjectPath("/MenuBar") || m.Body[6] != int64(-1) {
		t.Errorf("body %#v", m.Body[4:])
	}
}

// writeConn is a net.Conn that only writes, for send.
type writeConn struct{ w io.Writer }

func (c writeConn) Write(p []byte) (int, error)    { return c.w.Write(p) }
func (writeConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (writeConn) Close() error                     { return nil }
func (writeConn) LocalAddr() net.Addr              { return nil }
func (writeConn) RemoteAddr() net.Addr             { return nil }
func (writeConn) SetDeadline(time.Time) error      { return nil }
func (writeConn) SetReadDeadline(time.Time) error  { return nil }
func (writeConn) SetWriteDeadline(time.Time) error { return nil }

// TestSkipsLargeAndBadMessages: a message over the limit, or malformed,
// is read past and the next one is still found.
func TestSkipsLargeAndBadMessages(t *testing.T) {
	big := godbusMessage(t, binary.LittleEndian, 1, make([]byte, maxMessage))
	bad := godbusMessage(t, binary.LittleEndian, 2, "x")
	bad[len(bad)-1] = 'y' // the string's nul
	good := godbusMessage(t, binary.LittleEndian, 3, "ok")
	r := bytes.NewReader(slices.Concat(big, bad, good))
	for _, want := range []error{errSkipped, errSkipped, nil} {
		m, err := readMessage(r)
		if !errors.Is(err, want) {
			t.Fatalf("got %v, want %v", err, want)
		}
		if err == nil && (m.serial != 3 || m.body[0] != "ok") {
			t.Errorf("got %+v", m)
		}
	}
}

func TestSignatures(t *testing.T) {
	for sig, ok := range map[string]bool{
		"": true, "a{sv}": true, "(ia{sv}av)": true, "a(isvu)": true, "aai": true,
		"a": false, "()": false, "(i": false, "{sv}": false, "a{vs}": false, "a{s}": false, "a{svv}": false, "z": false,
		string(bytes.Repeat([]byte("a"), 70)) + "i": false, string(bytes.Repeat([]byte("i"), 256)): false,
	} {
		if err := validSignature(sig); (err == nil) != ok {
			t.Errorf("validSignature(%q) = %v, want ok %v", sig, err, ok)
		}
	}
}

// FuzzReadMessage: whatever a program on the bus sends, reading it must
// not panic, and a message read whole re-encodes with the same body.
func FuzzReadMessage(f *testing.F) {
	f.Add(godbusMessage(f, binary.LittleEndian, 1, int32(1), "clicked", dbus.MakeVariant(""), uint32(0)))
	f.Add(godbusMessage(f, binary.BigEndian, 2, []menuEvent{{ID: 4, Event: "hovered", Data: dbus.MakeVariant(int32(1))}}))
	f.Add(godbusMessage(f, binary.LittleEndian, 3, int32(0), int32(-1), []string{"label"}))
	f.Add(godbusMessage(f, binary.LittleEndian, 4, map[string]dbus.Variant{"k": dbus.MakeVariant(dbus.MakeVariant([]string{"x"}))}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := readMessage(bytes.NewReader(b))
		if err != nil {
			return
		}
		// Everything decoded is of a type the decoder promises.
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case byte, bool, int16, uint16, int32, uint32, int64, uint64, float64, string, objectPath, dbusSignature:
			case variant:
				walk(v.value)
			case dictEntry:
				walk(v.Key)
				walk(v.Value)
			case []any:
				for _, x := range v {
					walk(x)
				}
			default:
				t.Fatalf("decoded a %T", v)
			}
		}
		for _, v := range m.body {
			walk(v)
		}
	})
}

// FuzzDecodeBody decodes arbitrary bytes against arbitrary signatures.
func FuzzDecodeBody(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 2, 0, 0, 0}, "ii")
	f.Add([]byte{8, 0, 0, 0, 0, 0, 0, 0, 1, 's', 0, 0, 0, 0, 0, 0}, "a{sv}")
	f.Add([]byte{1, 'v', 0, 1, 'v', 0, 1, 'y', 0, 7}, "v")
	f.Fuzz(func(t *testing.T, b []byte, sig string) {
		for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			decodeBody(b, order, sig)
		}
	})
}
