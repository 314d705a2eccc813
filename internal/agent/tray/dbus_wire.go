//go:build unix && !darwin

package tray

// The DBus wire format, as much of it as the tray's StatusNotifierItem
// and dbusmenu need: our own rather than github.com/godbus/dbus/v5, which
// cost the agent 0.3 MB (its binary holds the tray) for the few calls the
// tray makes and answers. Values are encoded from a closed set of Go
// types (sigOf) and decoded from any valid signature into plain values
// (decoder.value), so what another program on the bus sends is checked
// against the signature a method expects before a handler sees it.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// objectPath is a DBus object path (type code o).
type objectPath string

// dbusSignature is a DBus type signature as a value (type code g).
type dbusSignature string

// variant is a DBus variant: a value with its signature.
type variant struct {
	sig   string
	value any
}

// makeVariant wraps v, which must be of a type sigOf knows.
func makeVariant(v any) variant {
	sig, err := sigOf(v)
	if err != nil {
		panic(err) // a programming error: only our own values are wrapped
	}
	return variant{sig: sig, value: v}
}

// Value is the wrapped value.
func (v variant) Value() any { return v.value }

// dictEntry is one decoded entry of a DBus dictionary (an array of {kv}).
type dictEntry struct{ Key, Value any }

// dbusStruct is a Go type encoded as a DBus struct.
type dbusStruct interface {
	signature() string
	encode(e *encoder)
}

// sigOf returns the DBus signature of v.
func sigOf(v any) (string, error) {
	switch v := v.(type) {
	case byte:
		return "y", nil
	case bool:
		return "b", nil
	case int32:
		return "i", nil
	case uint32:
		return "u", nil
	case int64:
		return "x", nil
	case uint64:
		return "t", nil
	case string:
		return "s", nil
	case objectPath:
		return "o", nil
	case dbusSignature:
		return "g", nil
	case variant:
		return "v", nil
	case []byte:
		return "ay", nil
	case []string:
		return "as", nil
	case []int32:
		return "ai", nil
	case []variant:
		return "av", nil
	case map[string]variant:
		return "a{sv}", nil
	case dbusStruct:
		return v.signature(), nil
	case []sniPixmap:
		return "a" + sniPixmap{}.signature(), nil
	case []menuProps:
		return "a" + menuProps{}.signature(), nil
	}
	return "", fmt.Errorf("dbus: no encoding for %T", v)
}

// encoder appends DBus values in little-endian order. Alignment is
// relative to the start of b, which is where the message or its body
// starts (both 8-aligned in the message).
type encoder struct{ b []byte }

func (e *encoder) pad(n int) {
	for len(e.b)%n != 0 {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) u32(v uint32) {
	e.pad(4)
	e.b = binary.LittleEndian.AppendUint32(e.b, v)
}

func (e *encoder) str(s string) {
	e.u32(uint32(len(s)))
	e.b = append(e.b, s...)
	e.b = append(e.b, 0)
}

func (e *encoder) sig(s string) {
	e.b = append(e.b, byte(len(s)))
	e.b = append(e.b, s...)
	e.b = append(e.b, 0)
}

// array encodes an array whose elements align to align, written by fill.
func (e *encoder) array(align int, fill func()) {
	e.u32(0)
	at := len(e.b) - 4
	e.pad(align)
	start := len(e.b)
	fill()
	binary.LittleEndian.PutUint32(e.b[at:], uint32(len(e.b)-start))
}

// value encodes v, of a type sigOf knows.
func (e *encoder) value(v any) {
	switch v := v.(type) {
	case byte:
		e.b = append(e.b, v)
	case bool:
		b := uint32(0)
		if v {
			b = 1
		}
		e.u32(b)
	case int32:
		e.u32(uint32(v))
	case uint32:
		e.u32(v)
	case int64:
		e.pad(8)
		e.b = binary.LittleEndian.AppendUint64(e.b, uint64(v))
	case uint64:
		e.pad(8)
		e.b = binary.LittleEndian.AppendUint64(e.b, v)
	case string:
		e.str(v)
	case objectPath:
		e.str(string(v))
	case dbusSignature:
		e.sig(string(v))
	case variant:
		e.sig(v.sig)
		e.value(v.value)
	case []byte:
		e.array(1, func() { e.b = append(e.b, v...) })
	case []string:
		e.array(4, func() {
			for _, s := range v {
				e.str(s)
			}
		})
	case []int32:
		e.array(4, func() {
			for _, i := range v {
				e.u32(uint32(i))
			}
		})
	case []variant:
		e.array(1, func() {
			for _, x := range v {
				e.value(x)
			}
		})
	case map[string]variant:
		e.array(8, func() {
			for k, x := range v {
				e.pad(8)
				e.str(k)
				e.value(x)
			}
		})
	case dbusStruct:
		e.pad(8)
		v.encode(e)
	case []sniPixmap:
		e.array(8, func() {
			for _, p := range v {
				e.value(p)
			}
		})
	case []menuProps:
		e.array(8, func() {
			for _, p := range v {
				e.value(p)
			}
		})
	default:
		panic(fmt.Sprintf("dbus: no encoding for %T", v)) // sigOf was not asked first
	}
}

// encodeBody encodes values as a message body and returns it with its
// signature.
func encodeBody(values []any) (body []byte, sig string, err error) {
	var b strings.Builder
	for _, v := range values {
		s, err := sigOf(v)
		if err != nil {
			return nil, "", err
		}
		b.WriteString(s)
	}
	if b.Len() > 255 {
		return nil, "", errors.New("dbus: body signature longer than 255 bytes")
	}
	e := &encoder{}
	for _, v := range values {
		e.value(v)
	}
	return e.b, b.String(), nil
}

// Limits of the DBus specification for what we decode.
const (
	maxSigLen   = 255
	maxArrayLen = 64 << 20
	maxDepth    = 64 // arrays, structs and variants nested together
)

var errShort = errors.New("dbus: message too short")

// decoder reads DBus values from b in the given byte order. Alignment is
// relative to the start of b.
type decoder struct {
	b     []byte
	off   int
	order binary.ByteOrder
	depth int
}

func (d *decoder) align(n int) error {
	p := (d.off + n - 1) &^ (n - 1)
	if p > len(d.b) {
		return errShort
	}
	for _, c := range d.b[d.off:p] {
		if c != 0 {
			return errors.New("dbus: non-zero padding")
		}
	}
	d.off = p
	return nil
}

func (d *decoder) take(n int) ([]byte, error) {
	if n < 0 || n > len(d.b)-d.off {
		return nil, errShort
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p, nil
}

func (d *decoder) u32() (uint32, error) {
	if err := d.align(4); err != nil {
		return 0, err
	}
	p, err := d.take(4)
	if err != nil {
		return 0, err
	}
	return d.order.Uint32(p), nil
}

func (d *decoder) u64() (uint64, error) {
	if err := d.align(8); err != nil {
		return 0, err
	}
	p, err := d.take(8)
	if err != nil {
		return 0, err
	}
	return d.order.Uint64(p), nil
}

// str reads a string whose length is n bytes long (4 for s and o, 1 for g).
func (d *decoder) str(n int) (string, error) {
	var l uint32
	if n == 1 {
		p, err := d.take(1)
		if err != nil {
			return "", err
		}
		l = uint32(p[0])
	} else {
		var err error
		if l, err = d.u32(); err != nil {
			return "", err
		}
	}
	if int64(l) >= int64(len(d.b)-d.off) {
		return "", errShort
	}
	p, _ := d.take(int(l) + 1)
	if p[l] != 0 {
		return "", errors.New("dbus: string without its terminating nul")
	}
	if strings.IndexByte(string(p[:l]), 0) >= 0 {
		return "", errors.New("dbus: nul inside a string")
	}
	return string(p[:l]), nil
}

// value decodes the one complete type at the head of sig and returns it
// with the rest of sig. Arrays decode to []any (of dictEntry for a
// dictionary), structs to []any.
func (d *decoder) value(sig string) (any, string, error) {
	if sig == "" {
		return nil, "", errors.New("dbus: signature ended early")
	}
	c, rest := sig[0], sig[1:]
	switch c {
	case 'y':
		p, err := d.take(1)
		if err != nil {
			return nil, "", err
		}
		return p[0], rest, nil
	case 'b':
		v, err := d.u32()
		if err != nil {
			return nil, "", err
		}
		if v > 1 {
			return nil, "", fmt.Errorf("dbus: boolean %d", v)
		}
		return v == 1, rest, nil
	case 'n', 'q':
		if err := d.align(2); err != nil {
			return nil, "", err
		}
		p, err := d.take(2)
		if err != nil {
			return nil, "", err
		}
		if c == 'n' {
			return int16(d.order.Uint16(p)), rest, nil
		}
		return d.order.Uint16(p), rest, nil
	case 'i', 'u', 'h':
		v, err := d.u32()
		if err != nil {
			return nil, "", err
		}
		if c == 'i' {
			return int32(v), rest, nil
		}
		return v, rest, nil
	case 'x', 't', 'd':
		v, err := d.u64()
		if err != nil {
			return nil, "", err
		}
		switch c {
		case 'x':
			return int64(v), rest, nil
		case 'd':
			return math.Float64frombits(v), rest, nil
		}
		return v, rest, nil
	case 's', 'o':
		s, err := d.str(4)
		if err != nil {
			return nil, "", err
		}
		if c == 'o' {
			if !validPath(s) {
				return nil, "", fmt.Errorf("dbus: invalid object path %q", s)
			}
			return objectPath(s), rest, nil
		}
		return s, rest, nil
	case 'g':
		s, err := d.str(1)
		if err != nil {
			return nil, "", err
		}
		if err := validSignature(s); err != nil {
			return nil, "", err
		}
		return dbusSignature(s), rest, nil
	case 'v':
		s, err := d.str(1)
		if err != nil {
			return nil, "", err
		}
		if err := validSignature(s); err != nil {
			return nil, "", err
		}
		one, more, err := nextType(s)
		if err != nil || more != "" {
			return nil, "", fmt.Errorf("dbus: variant signature %q is not one type", s)
		}
		if err := d.enter(); err != nil {
			return nil, "", err
		}
		defer d.leave()
		v, _, err := d.value(one)
		if err != nil {
			return nil, "", err
		}
		return variant{sig: one, value: v}, rest, nil
	case 'a':
		whole, after, err := nextType(sig)
		if err != nil {
			return nil, "", err
		}
		elem := whole[1:] // a dictionary's is {kv}
		n, err := d.u32()
		if err != nil {
			return nil, "", err
		}
		if n > maxArrayLen {
			return nil, "", fmt.Errorf("dbus: array of %d bytes", n)
		}
		if err := d.align(alignOf(elem[0])); err != nil {
			return nil, "", err
		}
		if int64(n) > int64(len(d.b)-d.off) {
			return nil, "", errShort
		}
		if err := d.enter(); err != nil {
			return nil, "", err
		}
		defer d.leave()
		end := d.off + int(n)
		out := []any{}
		// Every value takes at least one byte, so this ends.
		for d.off < end {
			var v any
			if elem[0] == '{' {
				v, err = d.dictEntry(elem)
			} else {
				v, _, err = d.value(elem)
			}
			if err != nil {
				return nil, "", err
			}
			out = append(out, v)
		}
		if d.off != end {
			return nil, "", errors.New("dbus: array elements overrun its length")
		}
		return out, after, nil
	case '(':
		if err := d.align(8); err != nil {
			return nil, "", err
		}
		if err := d.enter(); err != nil {
			return nil, "", err
		}
		defer d.leave()
		var fields []any
		inner := rest
		for {
			if inner == "" {
				return nil, "", errors.New("dbus: unclosed struct in signature")
			}
			if inner[0] == ')' {
				if len(fields) == 0 {
					return nil, "", errors.New("dbus: empty struct")
				}
				return fields, inner[1:], nil
			}
			var v any
			var err error
			if v, inner, err = d.value(inner); err != nil {
				return nil, "", err
			}
			fields = append(fields, v)
		}
	}
	return nil, "", fmt.Errorf("dbus: unknown type code %q", c)
}

// dictEntry decodes one {kv} of an array.
func (d *decoder) dictEntry(sig string) (any, error) {
	if err := d.align(8); err != nil {
		return nil, err
	}
	k, rest, err := d.value(sig[1:])
	if err != nil {
		return nil, err
	}
	v, _, err := d.value(rest)
	if err != nil {
		return nil, err
	}
	return dictEntry{Key: k, Value: v}, nil
}

func (d *decoder) enter() error {
	if d.depth++; d.depth > maxDepth {
		return errors.New("dbus: values nested too deep")
	}
	return nil
}

func (d *decoder) leave() { d.depth-- }

// decodeBody decodes a message body of signature sig.
func decodeBody(b []byte, order binary.ByteOrder, sig string) ([]any, error) {
	if err := validSignature(sig); err != nil {
		return nil, err
	}
	d := &decoder{b: b, order: order}
	var out []any
	for sig != "" {
		v, rest, err := d.value(sig)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		sig = rest
	}
	if d.off != len(b) {
		return nil, fmt.Errorf("dbus: %d bytes after the body's values", len(b)-d.off)
	}
	return out, nil
}

// alignOf is the alignment of the type that starts with code c.
func alignOf(c byte) int {
	switch c {
	case 'n', 'q':
		return 2
	case 'b', 'i', 'u', 'h', 's', 'o', 'a':
		return 4
	case 'x', 't', 'd', '(', '{':
		return 8
	}
	return 1 // y, g, v
}

// validSignature checks a whole signature: complete types only, within
// the specification's length and nesting limits.
func validSignature(s string) error {
	if len(s) > maxSigLen {
		return errors.New("dbus: signature longer than 255 bytes")
	}
	for s != "" {
		var err error
		if _, s, err = nextType(s); err != nil {
			return err
		}
	}
	return nil
}

// nextType splits the first complete type off sig.
func nextType(sig string) (one, rest string, err error) {
	n, err := typeLen(sig, 0)
	if err != nil {
		return "", "", err
	}
	return sig[:n], sig[n:], nil
}

// typeLen returns the length of the complete type at the head of sig.
func typeLen(sig string, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errors.New("dbus: signature nested too deep")
	}
	if sig == "" {
		return 0, errors.New("dbus: signature ended early")
	}
	switch sig[0] {
	case 'y', 'b', 'n', 'q', 'i', 'u', 'x', 't', 'd', 'h', 's', 'o', 'g', 'v':
		return 1, nil
	case 'a':
		if len(sig) > 1 && sig[1] == '{' {
			// {key value}: the key a basic type.
			if len(sig) < 3 || !basicType(sig[2]) {
				return 0, fmt.Errorf("dbus: bad dictionary in signature %q", sig)
			}
			n, err := typeLen(sig[3:], depth+1)
			if err != nil {
				return 0, err
			}
			if len(sig) <= 3+n || sig[3+n] != '}' {
				return 0, fmt.Errorf("dbus: bad dictionary in signature %q", sig)
			}
			return 3 + n + 1, nil
		}
		n, err := typeLen(sig[1:], depth+1)
		return 1 + n, err
	case '(':
		i := 1
		for {
			if i >= len(sig) {
				return 0, fmt.Errorf("dbus: unclosed struct in signature %q", sig)
			}
			if sig[i] == ')' {
				if i == 1 {
					return 0, errors.New("dbus: empty struct in signature")
				}
				return i + 1, nil
			}
			n, err := typeLen(sig[i:], depth+1)
			if err != nil {
				return 0, err
			}
			i += n
		}
	}
	return 0, fmt.Errorf("dbus: bad type code %q in signature", sig[0])
}

func basicType(c byte) bool { return strings.IndexByte("ybnqiuxtdhsog", c) >= 0 }

// validPath checks an object path: "/" or "/"-separated non-empty
// elements of [A-Za-z0-9_].
func validPath(p string) bool {
	if p == "/" {
		return true
	}
	if p == "" || p[0] != '/' || p[len(p)-1] == '/' {
		return false
	}
	for _, el := range strings.Split(p[1:], "/") {
		if el == "" {
			return false
		}
		for _, c := range []byte(el) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
				return false
			}
		}
	}
	return true
}
