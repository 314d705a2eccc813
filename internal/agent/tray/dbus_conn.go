//go:build unix && !darwin

package tray

// A DBus connection to the session bus (see dbus_wire.go for why it is
// our own): authentication, calls, signals out and in, and the methods of
// exported objects, each answered in a goroutine of its own so a slow
// handler does not hold up the connection.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Message types and flags.
const (
	msgCall   = 1
	msgReturn = 2
	msgError  = 3
	msgSignal = 4

	flagNoReply = 1
)

// Header field codes.
const (
	fieldPath        = 1
	fieldInterface   = 2
	fieldMember      = 3
	fieldErrorName   = 4
	fieldReplySerial = 5
	fieldDestination = 6
	fieldSender      = 7
	fieldSignature   = 8
)

// maxMessage bounds what we read of one message. The tray's own traffic
// is a few kilobytes; a bigger message is skipped, not held.
const maxMessage = 1 << 20

const (
	busName  = "org.freedesktop.DBus"
	busPath  = objectPath("/org/freedesktop/DBus")
	peerName = "org.freedesktop.DBus.Peer"
)

// dbusMessage is a decoded message.
type dbusMessage struct {
	typ         byte
	flags       byte
	serial      uint32
	path        objectPath
	iface       string
	member      string
	errName     string
	replySerial uint32
	dest        string
	sender      string
	sig         string
	body        []any
}

// Name is a signal's full name, interface.member.
func (m *dbusMessage) Name() string { return m.iface + "." + m.member }

// dbusError is an error a peer answered, or one we answer.
type dbusError struct {
	Name    string
	Message string
}

func (e *dbusError) Error() string {
	if e.Message == "" {
		return e.Name
	}
	return e.Name + ": " + e.Message
}

func newDBusError(name, msg string) *dbusError { return &dbusError{Name: name, Message: msg} }

// dbusMethod is an exported method: the signature of its arguments and
// the function that answers it (a *dbusError to answer an error).
type dbusMethod struct {
	in   string
	call func(args []any) ([]any, error)
}

// busConn is a connection to a message bus.
type busConn struct {
	c    net.Conn
	r    *bufio.Reader
	log  *slog.Logger
	name string // our unique name on the bus

	wmu    sync.Mutex // one message written at a time
	serial atomic.Uint32

	mu      sync.Mutex
	calls   map[uint32]chan *dbusMessage
	objects map[objectPath]map[string]map[string]dbusMethod
	closed  bool

	signals  chan *dbusMessage // closed when the connection ends
	done     chan struct{}     // closed when the reader has stopped
	handlers sync.WaitGroup    // method handlers running
}

// connectSessionBus connects to the user's session bus: the address in
// DBUS_SESSION_BUS_ADDRESS, or the usual one under XDG_RUNTIME_DIR.
// Only Unix-socket addresses are used; a session without them has no
// tray host to show an icon anyway.
func connectSessionBus(ctx context.Context, log *slog.Logger) (*busConn, error) {
	addr := os.Getenv("DBUS_SESSION_BUS_ADDRESS")
	if addr == "" {
		if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
			addr = "unix:path=" + dir + "/bus"
		}
	}
	if addr == "" {
		return nil, errors.New("no session bus: DBUS_SESSION_BUS_ADDRESS and XDG_RUNTIME_DIR are not set")
	}
	var errs []error
	for _, a := range strings.Split(addr, ";") {
		socket, err := unixSocket(a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c, err := dialBus(ctx, socket, log)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("connect to %s: %w", addr, errors.Join(errs...))
}

// unixSocket returns the socket of a unix: bus address ("@name" for an
// abstract one).
func unixSocket(addr string) (string, error) {
	kind, params, ok := strings.Cut(addr, ":")
	if !ok || kind != "unix" {
		return "", fmt.Errorf("bus address %q: only unix: addresses are supported", addr)
	}
	for _, kv := range strings.Split(params, ",") {
		k, v, _ := strings.Cut(kv, "=")
		v, err := unescapeAddr(v)
		if err != nil {
			return "", fmt.Errorf("bus address %q: %w", addr, err)
		}
		switch k {
		case "path":
			return v, nil
		case "abstract":
			return "@" + v, nil
		}
	}
	return "", fmt.Errorf("bus address %q has neither path nor abstract", addr)
}

// unescapeAddr undoes the %XX escapes of an address value.
func unescapeAddr(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errors.New("bad escape")
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", errors.New("bad escape")
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

// dialBus connects, authenticates as our user and says Hello.
func dialBus(ctx context.Context, socket string, log *slog.Logger) (*busConn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	} else {
		nc.SetDeadline(time.Now().Add(30 * time.Second))
	}
	r := bufio.NewReader(nc)
	if err := authenticate(nc, r); err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	c := &busConn{
		c: nc, r: r, log: log,
		calls:   map[uint32]chan *dbusMessage{},
		objects: map[objectPath]map[string]map[string]dbusMethod{},
		signals: make(chan *dbusMessage, 16),
		done:    make(chan struct{}),
	}
	go c.read()
	reply, err := c.Call(ctx, busName, busPath, busName, "Hello")
	if err == nil {
		if len(reply) != 1 {
			err = errors.New("unexpected reply")
		} else if c.name, _ = reply[0].(string); c.name == "" {
			err = errors.New("no unique name")
		}
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("hello to the bus: %w", err)
	}
	return c, nil
}

// authenticate runs the SASL EXTERNAL exchange: the bus knows our user
// from the socket.
func authenticate(w io.Writer, r *bufio.Reader) error {
	uid := strconv.Itoa(os.Getuid())
	if _, err := fmt.Fprintf(w, "\x00AUTH EXTERNAL %x\r\n", uid); err != nil {
		return fmt.Errorf("authenticate to the bus: %w", err)
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("authenticate to the bus: %w", err)
	}
	if !strings.HasPrefix(line, "OK ") {
		return fmt.Errorf("authenticate to the bus: refused: %q", strings.TrimSpace(line))
	}
	if _, err := io.WriteString(w, "BEGIN\r\n"); err != nil {
		return fmt.Errorf("authenticate to the bus: %w", err)
	}
	return nil
}

// Done is closed when the connection has ended.
func (c *busConn) Done() <-chan struct{} { return c.done }

// Signals delivers the signals the bus routes to us (see AddMatch). It is
// closed when the connection ends; a signal that finds it full is dropped.
func (c *busConn) Signals() <-chan *dbusMessage { return c.signals }

// Close ends the connection and waits for its reader and handlers.
func (c *busConn) Close() error {
	err := c.c.Close()
	<-c.done
	c.handlers.Wait()
	return err
}

// Export serves methods of iface on path.
func (c *busConn) Export(path objectPath, iface string, methods map[string]dbusMethod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.objects[path] == nil {
		c.objects[path] = map[string]map[string]dbusMethod{}
	}
	c.objects[path][iface] = methods
}

// Call calls a method and returns its reply's values.
func (c *busConn) Call(ctx context.Context, dest string, path objectPath, iface, member string, args ...any) ([]any, error) {
	serial := c.serial.Add(1)
	ch := make(chan *dbusMessage, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, net.ErrClosed
	}
	c.calls[serial] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.calls, serial)
		c.mu.Unlock()
	}()
	m := &dbusMessage{typ: msgCall, serial: serial, dest: dest, path: path, iface: iface, member: member}
	if err := c.send(m, args); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		if r.typ == msgError {
			msg, _ := firstString(r.body)
			return nil, newDBusError(r.errName, msg)
		}
		return r.body, nil
	case <-c.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Emit sends a signal.
func (c *busConn) Emit(path objectPath, name string, args ...any) error {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return fmt.Errorf("signal name %q has no interface", name)
	}
	return c.send(&dbusMessage{typ: msgSignal, serial: c.serial.Add(1), path: path, iface: name[:i], member: name[i+1:]}, args)
}

// RequestName asks for a well-known name and returns the bus's answer
// (1: we are its primary owner).
func (c *busConn) RequestName(ctx context.Context, name string, flags uint32) (uint32, error) {
	r, err := c.Call(ctx, busName, busPath, busName, "RequestName", name, flags)
	if err != nil {
		return 0, err
	}
	if len(r) != 1 {
		return 0, errors.New("unexpected RequestName reply")
	}
	v, ok := r[0].(uint32)
	if !ok {
		return 0, errors.New("unexpected RequestName reply")
	}
	return v, nil
}

// AddMatch asks the bus to route the signals matching rule to us.
func (c *busConn) AddMatch(ctx context.Context, rule string) error {
	_, err := c.Call(ctx, busName, busPath, busName, "AddMatch", rule)
	return err
}

// send encodes m with body args and writes it.
func (c *busConn) send(m *dbusMessage, args []any) error {
	body, sig, err := encodeBody(args)
	if err != nil {
		return err
	}
	if len(body) > maxMessage {
		return fmt.Errorf("dbus: message of %d bytes", len(body))
	}
	var fields []variant
	field := func(code byte, v any) {
		fields = append(fields, variant{sig: "(yv)", value: headerField{code, makeVariant(v)}})
	}
	if m.path != "" {
		field(fieldPath, m.path)
	}
	if m.iface != "" {
		field(fieldInterface, m.iface)
	}
	if m.member != "" {
		field(fieldMember, m.member)
	}
	if m.errName != "" {
		field(fieldErrorName, m.errName)
	}
	if m.replySerial != 0 {
		field(fieldReplySerial, m.replySerial)
	}
	if m.dest != "" {
		field(fieldDestination, m.dest)
	}
	if sig != "" {
		field(fieldSignature, dbusSignature(sig))
	}
	e := &encoder{b: make([]byte, 0, 128+len(body))}
	e.b = append(e.b, 'l', m.typ, m.flags, 1)
	e.u32(uint32(len(body)))
	e.u32(m.serial)
	e.array(8, func() {
		for _, f := range fields {
			e.value(f.value)
		}
	})
	e.pad(8)
	e.b = append(e.b, body...)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.c.Write(e.b); err != nil {
		return fmt.Errorf("write to the bus: %w", err)
	}
	return nil
}

// headerField is one (yv) of a message header.
type headerField struct {
	code byte
	v    variant
}

func (headerField) signature() string { return "(yv)" }
func (f headerField) encode(e *encoder) {
	e.value(f.code)
	e.value(f.v)
}

// read reads messages until the connection ends, passing each on.
func (c *busConn) read() {
	defer func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		close(c.signals)
		close(c.done)
	}()
	for {
		m, err := readMessage(c.r)
		if errors.Is(err, errSkipped) {
			c.log.Debug("skipped a DBus message", "err", err)
			continue
		}
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				c.log.Debug("the DBus connection ended", "err", err)
			}
			c.c.Close()
			return
		}
		c.dispatch(m)
	}
}

// dispatch passes one message on.
func (c *busConn) dispatch(m *dbusMessage) {
	switch m.typ {
	case msgReturn, msgError:
		c.mu.Lock()
		ch := c.calls[m.replySerial]
		c.mu.Unlock()
		if ch != nil {
			select {
			case ch <- m:
			default: // a second reply to one call
			}
		}
	case msgSignal:
		select {
		case c.signals <- m:
		default:
			c.log.Warn("dropped a DBus signal: nobody reads them", "signal", m.Name())
		}
	case msgCall:
		c.handlers.Add(1)
		go func() {
			defer c.handlers.Done()
			c.answer(m)
		}()
	}
}

// answer runs the method m calls and sends its reply.
func (c *busConn) answer(m *dbusMessage) {
	out, err := c.invoke(m)
	if m.flags&flagNoReply != 0 {
		return
	}
	reply := &dbusMessage{typ: msgReturn, serial: c.serial.Add(1), replySerial: m.serial, dest: m.sender}
	if err != nil {
		var de *dbusError
		if !errors.As(err, &de) {
			de = newDBusError("org.freedesktop.DBus.Error.Failed", err.Error())
		}
		reply.typ, reply.errName, out = msgError, de.Name, []any{de.Message}
	}
	if err := c.send(reply, out); err != nil {
		c.log.Debug("cannot answer a DBus call", "method", m.Name(), "err", err)
	}
}

// invoke finds and runs the method m calls.
func (c *busConn) invoke(m *dbusMessage) ([]any, error) {
	if m.iface == peerName {
		switch m.member {
		case "Ping":
			return nil, nil
		case "GetMachineId":
			return machineID()
		}
	}
	c.mu.Lock()
	obj := c.objects[m.path]
	var method dbusMethod
	found := false
	if m.iface != "" {
		method, found = obj[m.iface][m.member]
	} else { // no interface: any method of that name
		for _, methods := range obj {
			if method, found = methods[m.member]; found {
				break
			}
		}
	}
	c.mu.Unlock()
	switch {
	case obj == nil:
		return nil, newDBusError("org.freedesktop.DBus.Error.UnknownObject", fmt.Sprintf("no object %s", m.path))
	case !found:
		return nil, newDBusError("org.freedesktop.DBus.Error.UnknownMethod", fmt.Sprintf("no method %s on %s", m.Name(), m.path))
	case m.sig != method.in:
		return nil, newDBusError("org.freedesktop.DBus.Error.InvalidArgs",
			fmt.Sprintf("%s takes (%s), not (%s)", m.Name(), method.in, m.sig))
	}
	return method.call(m.body)
}

// machineID answers Peer.GetMachineId.
func machineID() ([]any, error) {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := os.ReadFile(p); err == nil {
			return []any{strings.TrimSpace(string(b))}, nil
		}
	}
	return nil, newDBusError("org.freedesktop.DBus.Error.Failed", "no machine id")
}

// errSkipped: a message was read and dropped, the connection goes on.
var errSkipped = errors.New("dbus: message skipped")

// readMessage reads one message. A message larger than maxMessage, of an
// unknown type or malformed is read past and answered by errSkipped; only
// a header whose lengths cannot be read ends the connection.
func readMessage(r io.Reader) (*dbusMessage, error) {
	var fixed [16]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return nil, err
	}
	var order binary.ByteOrder
	switch fixed[0] {
	case 'l':
		order = binary.LittleEndian
	case 'B':
		order = binary.BigEndian
	default:
		return nil, fmt.Errorf("dbus: bad byte order %q", fixed[0])
	}
	if fixed[3] != 1 {
		return nil, fmt.Errorf("dbus: protocol version %d", fixed[3])
	}
	bodyLen := int64(order.Uint32(fixed[4:]))
	fieldsLen := int64(order.Uint32(fixed[12:]))
	headerLen := (16 + fieldsLen + 7) &^ 7
	if headerLen+bodyLen > maxMessage {
		if headerLen+bodyLen > 128<<20 { // the specification's limit
			return nil, fmt.Errorf("dbus: message of %d bytes", headerLen+bodyLen)
		}
		if _, err := io.CopyN(io.Discard, r, headerLen+bodyLen-16); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %d bytes", errSkipped, headerLen+bodyLen)
	}
	buf := make([]byte, headerLen+bodyLen)
	copy(buf, fixed[:])
	if _, err := io.ReadFull(r, buf[16:]); err != nil {
		return nil, err
	}
	m, err := parseMessage(buf, headerLen, order)
	if err != nil && !errors.Is(err, errSkipped) {
		// Its length was read, so the next message is still found.
		err = fmt.Errorf("%w: %w", errSkipped, err)
	}
	return m, err
}

// parseMessage decodes a whole message whose header is headerLen bytes.
func parseMessage(buf []byte, headerLen int64, order binary.ByteOrder) (*dbusMessage, error) {
	m := &dbusMessage{typ: buf[1], flags: buf[2], serial: order.Uint32(buf[8:])}
	if m.serial == 0 {
		return nil, errors.New("dbus: message serial 0")
	}
	d := &decoder{b: buf[:headerLen], off: 12, order: order}
	fields, _, err := d.value("a(yv)")
	if err != nil {
		return nil, fmt.Errorf("dbus: header: %w", err)
	}
	if err := d.align(8); err != nil || int64(d.off) != headerLen {
		return nil, errors.New("dbus: header length does not match its fields")
	}
	for _, f := range fields.([]any) {
		kv := f.([]any)
		code, v := kv[0].(byte), kv[1].(variant)
		ok := true
		switch code {
		case fieldPath:
			m.path, ok = v.value.(objectPath)
		case fieldInterface:
			m.iface, ok = v.value.(string)
		case fieldMember:
			m.member, ok = v.value.(string)
		case fieldErrorName:
			m.errName, ok = v.value.(string)
		case fieldReplySerial:
			m.replySerial, ok = v.value.(uint32)
			ok = ok && v.sig == "u"
		case fieldDestination:
			m.dest, ok = v.value.(string)
		case fieldSender:
			m.sender, ok = v.value.(string)
		case fieldSignature:
			var s dbusSignature
			s, ok = v.value.(dbusSignature)
			m.sig = string(s)
		}
		if !ok {
			return nil, fmt.Errorf("dbus: header field %d of type %s", code, v.sig)
		}
	}
	switch m.typ {
	case msgCall:
		if m.path == "" || m.member == "" {
			return nil, errors.New("dbus: method call without path or member")
		}
	case msgSignal:
		if m.path == "" || m.iface == "" || m.member == "" {
			return nil, errors.New("dbus: signal without path, interface or member")
		}
	case msgReturn, msgError:
		if m.replySerial == 0 || (m.typ == msgError && m.errName == "") {
			return nil, errors.New("dbus: reply without its serial or error name")
		}
	default:
		return nil, fmt.Errorf("%w: type %d", errSkipped, m.typ) // the specification says to ignore them
	}
	if m.body, err = decodeBody(buf[headerLen:], order, m.sig); err != nil {
		return nil, err
	}
	return m, nil
}

// firstString returns body's first value if it is a string.
func firstString(body []any) (string, bool) {
	if len(body) == 0 {
		return "", false
	}
	s, ok := body[0].(string)
	return s, ok
}
