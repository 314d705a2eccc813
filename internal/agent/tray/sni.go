//go:build unix && !darwin

package tray

// The Linux tray is our own StatusNotifierItem (the icon) with its menu
// as com.canonical.dbusmenu, on our own DBus connection (dbus_conn.go).
// Every method is a closure with its argument signature: no reflection
// (godbus's Export walks an object's methods with reflect.Value.Method,
// which makes the linker keep every exported method of every type in the
// binary: about 2.4 MB in the agent with fyne.io/systray).

import (
	"context"
	"fmt"
	"image"
	"log/slog"
	"os"
	"sync"
)

const (
	sniPath     = objectPath("/StatusNotifierItem")
	menuPath    = objectPath("/MenuBar")
	sniIface    = "org.kde.StatusNotifierItem"
	menuIface   = "com.canonical.dbusmenu"
	propsIface  = "org.freedesktop.DBus.Properties"
	watcherName = "org.kde.StatusNotifierWatcher"
	watcherPath = objectPath("/StatusNotifierWatcher")
	// sniID is the item's Id property: stable for the application, so a
	// panel can remember where the user placed it.
	sniID = "steward-agent-tray"
)

// sniPixmap is one icon image: width, height, ARGB32 in network byte
// order.
type sniPixmap struct {
	W, H int32
	Data []byte
}

func (sniPixmap) signature() string { return "(iiay)" }
func (p sniPixmap) encode(e *encoder) {
	e.value(p.W)
	e.value(p.H)
	e.value(p.Data)
}

// sniTooltip is the ToolTip property, (sa(iiay)ss): icon name, icons,
// title, text.
type sniTooltip struct {
	Icon    string
	Pixmaps []sniPixmap
	Title   string
	Text    string
}

func (sniTooltip) signature() string { return "(sa(iiay)ss)" }
func (t sniTooltip) encode(e *encoder) {
	e.value(t.Icon)
	e.value(t.Pixmaps)
	e.value(t.Title)
	e.value(t.Text)
}

// menuLayout is a dbusmenu item with its children, (ia{sv}av).
type menuLayout struct {
	ID       int32
	Props    map[string]variant
	Children []variant
}

func (menuLayout) signature() string { return "(ia{sv}av)" }
func (l menuLayout) encode(e *encoder) {
	e.value(l.ID)
	e.value(l.Props)
	e.value(l.Children)
}

// menuProps is a dbusmenu item's properties, (ia{sv}).
type menuProps struct {
	ID    int32
	Props map[string]variant
}

func (menuProps) signature() string { return "(ia{sv})" }
func (p menuProps) encode(e *encoder) {
	e.value(p.ID)
	e.value(p.Props)
}

// menuItem is an entry of the served menu with its dbusmenu id.
type menuItem struct {
	id int32
	e  Entry
}

// errUnknownID answers a dbusmenu call for an item that is not (or no
// longer) in the menu.
func errUnknownID(id int32) *dbusError {
	return newDBusError("com.canonical.dbusmenu.UnknownId", fmt.Sprintf("no menu item %d", id))
}

// sni is the icon and menu served on the session bus. The bus calls
// handlers in goroutines of their own; they read the state under mu.
type sni struct {
	conn    *busConn
	log     *slog.Logger
	done    <-chan struct{} // closed when the tray stops: a click is not passed on then
	clicks  chan Entry
	opens   chan struct{}
	service string // the bus name the item owns

	mu       sync.Mutex
	state    State
	icon     []sniPixmap
	tooltip  string
	title    string
	items    []menuItem
	nextID   int32 // ids are not reused, so a click on a stale menu hits nothing
	revision uint32
}

func newSNI(conn *busConn, log *slog.Logger, done <-chan struct{}) *sni {
	return &sni{
		conn:    conn,
		log:     log,
		done:    done,
		clicks:  make(chan Entry, 8),
		opens:   make(chan struct{}, 1),
		service: fmt.Sprintf("org.kde.StatusNotifierItem-%d-1", os.Getpid()),
		nextID:  1,
	}
}

func (s *sni) clicked() <-chan Entry   { return s.clicks }
func (s *sni) opened() <-chan struct{} { return s.opens }

// export puts the item and its menu on the bus and takes the item's name.
func (s *sni) export(ctx context.Context) error {
	tables := []struct {
		path  objectPath
		iface string
		m     map[string]dbusMethod
	}{
		{sniPath, sniIface, s.itemMethods()},
		{sniPath, propsIface, propsMethods(sniIface, s.itemProps)},
		{sniPath, introspectIface, introspectMethods(sniIntrospection)},
		{menuPath, menuIface, s.menuMethods()},
		{menuPath, propsIface, propsMethods(menuIface, menuObjectProps)},
		{menuPath, introspectIface, introspectMethods(menuIntrospection)},
	}
	for _, t := range tables {
		s.conn.Export(t.path, t.iface, t.m)
	}
	const doNotQueue, primaryOwner = 4, 1
	reply, err := s.conn.RequestName(ctx, s.service, doNotQueue)
	if err != nil {
		return fmt.Errorf("request the bus name %s: %w", s.service, err)
	}
	if reply != primaryOwner {
		return fmt.Errorf("the bus name %s is taken (reply %d)", s.service, reply)
	}
	return nil
}

// register tells the watcher (the desktop's tray host) about the item.
func (s *sni) register(ctx context.Context) error {
	if _, err := s.conn.Call(ctx, watcherName, watcherPath, watcherName, "RegisterStatusNotifierItem", s.service); err != nil {
		return fmt.Errorf("register with the StatusNotifierWatcher: %w", err)
	}
	return nil
}

// signal is a DBus signal to send.
type signal struct {
	path objectPath
	name string
	args []any
}

// draw implements view: it changes the served state and signals what
// changed.
func (s *sni) draw(old *Model, m Model, force bool) {
	for _, sig := range s.apply(old, m, force) {
		if err := s.conn.Emit(sig.path, sig.name, sig.args...); err != nil {
			s.log.Warn("cannot signal the tray host", "signal", sig.name, "err", err)
		}
	}
}

// apply changes the served state from old (nil at first) to m, all of
// it when force, and returns the signals that tell the host.
func (s *sni) apply(old *Model, m Model, force bool) []signal {
	if old == nil {
		old = &Model{State: -1}
	}
	var sigs []signal
	item := func(name string, args ...any) {
		sigs = append(sigs, signal{sniPath, sniIface + "." + name, args})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if force || old.State != m.State {
		s.state = m.State
		s.icon = []sniPixmap{argbPixmap(drawIcon(m.State))}
		item("NewIcon")
		item("NewAttentionIcon")
		item("NewStatus", s.statusLocked())
	}
	if force || old.Tooltip != m.Tooltip {
		s.tooltip = m.Tooltip
		item("NewToolTip")
	}
	if force || old.Title != m.Title {
		s.title = m.Title
		item("NewTitle")
	}
	if force || old.Entries == nil || !entriesEqual(old.Entries, m.Entries) {
		s.items = make([]menuItem, len(m.Entries))
		for i, e := range m.Entries {
			s.items[i] = menuItem{id: s.nextID, e: e}
			s.nextID++
		}
		s.revision++
		sigs = append(sigs, signal{menuPath, menuIface + ".LayoutUpdated", []any{s.revision, int32(0)}})
	}
	return sigs
}

// statusLocked: an item that needs attention is shown prominently by
// the hosts that know the status (KDE shows it out of the overflow).
func (s *sni) statusLocked() string {
	if s.state == StateAttention {
		return "NeedsAttention"
	}
	return "Active"
}

// itemProps returns the StatusNotifierItem's properties.
func (s *sni) itemProps() map[string]variant {
	s.mu.Lock()
	defer s.mu.Unlock()
	noIcon := []sniPixmap{}
	return map[string]variant{
		"Category":            makeVariant("ApplicationStatus"),
		"Id":                  makeVariant(sniID),
		"Title":               makeVariant(s.title),
		"Status":              makeVariant(s.statusLocked()),
		"WindowId":            makeVariant(int32(0)),
		"IconName":            makeVariant(""),
		"IconPixmap":          makeVariant(s.icon),
		"OverlayIconName":     makeVariant(""),
		"OverlayIconPixmap":   makeVariant(noIcon),
		"AttentionIconName":   makeVariant(""),
		"AttentionIconPixmap": makeVariant(s.icon),
		"AttentionMovieName":  makeVariant(""),
		"IconThemePath":       makeVariant(""),
		"ToolTip":             makeVariant(sniTooltip{Pixmaps: noIcon, Title: s.tooltip}),
		// The item is only a menu: a left click opens it too.
		"ItemIsMenu": makeVariant(true),
		"Menu":       makeVariant(menuPath),
	}
}

// menuObjectProps returns the properties of the menu object.
func menuObjectProps() map[string]variant {
	return map[string]variant{
		"Version":       makeVariant(uint32(3)), // of the dbusmenu protocol
		"TextDirection": makeVariant("ltr"),
		"Status":        makeVariant("normal"),
		"IconThemePath": makeVariant([]string{}),
	}
}

// itemMethods are the StatusNotifierItem's methods. The item is a menu:
// the host shows the menu on clicks, and a host that activates the item
// instead refreshes it like an opened menu.
func (s *sni) itemMethods() map[string]dbusMethod {
	activate := dbusMethod{in: "ii", call: func([]any) ([]any, error) {
		s.tellOpened()
		return nil, nil
	}}
	return map[string]dbusMethod{
		"Activate":          activate,
		"SecondaryActivate": activate,
		"ContextMenu":       activate,
		"Scroll":            {in: "is", call: func([]any) ([]any, error) { return nil, nil }},
	}
}

// menuMethods are com.canonical.dbusmenu's methods. The connection has
// checked the arguments against each method's signature.
func (s *sni) menuMethods() map[string]dbusMethod {
	return map[string]dbusMethod{
		"GetLayout": {in: "iias", call: func(a []any) ([]any, error) {
			parent := a[0].(int32)
			s.mu.Lock()
			defer s.mu.Unlock()
			l, ok := s.layoutLocked(parent, a[1].(int32), strs(a[2]))
			if !ok {
				return nil, errUnknownID(parent)
			}
			return []any{s.revision, l}, nil
		}},
		"GetGroupProperties": {in: "aias", call: func(a []any) ([]any, error) {
			ids, names := int32s(a[0]), strs(a[1])
			s.mu.Lock()
			defer s.mu.Unlock()
			out := []menuProps{}
			if len(ids) == 0 { // all items, by the spec
				ids = []int32{0}
				for _, it := range s.items {
					ids = append(ids, it.id)
				}
			}
			for _, id := range ids {
				if p, ok := s.propsLocked(id, names); ok {
					out = append(out, menuProps{ID: id, Props: p})
				}
			}
			return []any{out}, nil
		}},
		"GetProperty": {in: "is", call: func(a []any) ([]any, error) {
			id, name := a[0].(int32), a[1].(string)
			s.mu.Lock()
			defer s.mu.Unlock()
			p, ok := s.propsLocked(id, []string{name})
			if !ok {
				return nil, errUnknownID(id)
			}
			v, ok := p[name]
			if !ok {
				return nil, newDBusError("org.freedesktop.DBus.Error.Failed", fmt.Sprintf("menu item %d has no property %q", id, name))
			}
			return []any{v}, nil
		}},
		"Event": {in: "isvu", call: func(a []any) ([]any, error) {
			id := a[0].(int32)
			if !s.event(id, a[1].(string)) {
				return nil, errUnknownID(id)
			}
			return nil, nil
		}},
		"EventGroup": {in: "a(isvu)", call: func(a []any) ([]any, error) {
			bad := []int32{}
			for _, e := range a[0].([]any) {
				f := e.([]any)
				if id := f[0].(int32); !s.event(id, f[1].(string)) {
					bad = append(bad, id)
				}
			}
			return []any{bad}, nil
		}},
		"AboutToShow": {in: "i", call: func(a []any) ([]any, error) {
			if a[0].(int32) == 0 {
				s.tellOpened()
			}
			// The menu is sent whole: a refresh that changes it sends
			// LayoutUpdated, so the host never needs to ask again.
			return []any{false}, nil
		}},
		"AboutToShowGroup": {in: "ai", call: func(a []any) ([]any, error) {
			for _, id := range int32s(a[0]) {
				if id == 0 {
					s.tellOpened()
				}
			}
			return []any{[]int32{}, []int32{}}, nil
		}},
	}
}

// strs converts a decoded array of strings (as).
func strs(v any) []string {
	a := v.([]any)
	out := make([]string, len(a))
	for i, x := range a {
		out[i] = x.(string)
	}
	return out
}

// int32s converts a decoded array of int32 (ai).
func int32s(v any) []int32 {
	a := v.([]any)
	out := make([]int32, len(a))
	for i, x := range a {
		out[i] = x.(int32)
	}
	return out
}

// event handles a dbusmenu event; false when the id is unknown.
func (s *sni) event(id int32, event string) bool {
	if id == 0 {
		if event == "opened" {
			s.tellOpened()
		}
		return true
	}
	s.mu.Lock()
	var e Entry
	found := false
	for _, it := range s.items {
		if it.id == id {
			e, found = it.e, true
		}
	}
	s.mu.Unlock()
	if !found {
		return false
	}
	if event != "clicked" || e.Disabled || e.Kind == KindLabel || e.Kind == KindSeparator {
		return true
	}
	// The buffer lets the reply go while the loop is polling the agent.
	select {
	case s.clicks <- e:
	case <-s.done:
	}
	return true
}

// tellOpened wakes the loop to refresh; one pending wake is enough.
func (s *sni) tellOpened() {
	select {
	case s.opens <- struct{}{}:
	default:
	}
}

// layoutLocked returns the layout from item parent down depth levels
// (-1: all).
func (s *sni) layoutLocked(parent, depth int32, names []string) (menuLayout, bool) {
	props, ok := s.propsLocked(parent, names)
	if !ok {
		return menuLayout{}, false
	}
	l := menuLayout{ID: parent, Props: props, Children: []variant{}}
	if parent != 0 || depth == 0 {
		return l, true
	}
	for _, it := range s.items {
		c, _ := s.layoutLocked(it.id, 0, names)
		l.Children = append(l.Children, makeVariant(c))
	}
	return l, true
}

// propsLocked returns item id's properties, only those named when names
// is not empty.
func (s *sni) propsLocked(id int32, names []string) (map[string]variant, bool) {
	var p map[string]variant
	if id == 0 {
		p = map[string]variant{"children-display": makeVariant("submenu")}
	}
	for _, it := range s.items {
		if it.id == id {
			p = entryProps(it.e)
		}
	}
	if p == nil {
		return nil, false
	}
	if len(names) == 0 {
		return p, true
	}
	only := make(map[string]variant, len(names))
	for _, n := range names {
		if v, ok := p[n]; ok {
			only[n] = v
		}
	}
	return only, true
}

// entryProps returns the dbusmenu properties of e; properties at their
// default value (enabled, visible, a standard item) are left out.
func entryProps(e Entry) map[string]variant {
	if e.Kind == KindSeparator {
		return map[string]variant{"type": makeVariant("separator")}
	}
	p := map[string]variant{"label": makeVariant(menuLabel(e.Title))}
	if e.Disabled || e.Kind == KindLabel {
		p["enabled"] = makeVariant(false)
	}
	return p
}

// propsMethods are org.freedesktop.DBus.Properties for an object with
// the read-only properties of iface that props returns.
func propsMethods(iface string, props func() map[string]variant) map[string]dbusMethod {
	unknown := func(name string) *dbusError {
		return newDBusError("org.freedesktop.DBus.Error.UnknownInterface", "no interface "+name)
	}
	return map[string]dbusMethod{
		"Get": {in: "ss", call: func(a []any) ([]any, error) {
			in, name := a[0].(string), a[1].(string)
			if in != iface {
				return nil, unknown(in)
			}
			v, ok := props()[name]
			if !ok {
				return nil, newDBusError("org.freedesktop.DBus.Error.UnknownProperty", "no property "+name)
			}
			return []any{v}, nil
		}},
		"GetAll": {in: "s", call: func(a []any) ([]any, error) {
			if in := a[0].(string); in != iface {
				return nil, unknown(in)
			}
			return []any{props()}, nil
		}},
		"Set": {in: "ssv", call: func(a []any) ([]any, error) {
			return nil, newDBusError("org.freedesktop.DBus.Error.PropertyReadOnly", "property "+a[1].(string)+" is read-only")
		}},
	}
}

// argbPixmap converts img to a StatusNotifierItem pixmap: ARGB32, not
// premultiplied, in network byte order.
func argbPixmap(img *image.NRGBA) sniPixmap {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	data := make([]byte, 0, w*h*4)
	for y := range h {
		for x := range w {
			c := img.NRGBAAt(img.Rect.Min.X+x, img.Rect.Min.Y+y)
			data = append(data, c.A, c.R, c.G, c.B)
		}
	}
	return sniPixmap{W: int32(w), H: int32(h), Data: data}
}
