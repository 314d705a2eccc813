//go:build unix && !darwin

package tray

// The Linux tray is our own StatusNotifierItem (the icon) with its menu
// as com.canonical.dbusmenu, on godbus. Every object is exported with
// ExportMethodTable and closures: godbus's Export walks an object's
// methods with reflect.Value.Method, which makes the linker keep every
// exported method of every type in the binary (about 2.4 MB in the agent
// with fyne.io/systray).

import (
	"context"
	"fmt"
	"image"
	"log/slog"
	"os"
	"sync"

	"github.com/godbus/dbus/v5"
)

const (
	sniPath     = dbus.ObjectPath("/StatusNotifierItem")
	menuPath    = dbus.ObjectPath("/MenuBar")
	sniIface    = "org.kde.StatusNotifierItem"
	menuIface   = "com.canonical.dbusmenu"
	propsIface  = "org.freedesktop.DBus.Properties"
	watcherName = "org.kde.StatusNotifierWatcher"
	watcherPath = dbus.ObjectPath("/StatusNotifierWatcher")
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

// sniTooltip is the ToolTip property, (sa(iiay)ss): icon name, icons,
// title, text.
type sniTooltip struct {
	Icon    string
	Pixmaps []sniPixmap
	Title   string
	Text    string
}

// menuLayout is a dbusmenu item with its children, (ia{sv}av).
type menuLayout struct {
	ID       int32
	Props    map[string]dbus.Variant
	Children []dbus.Variant
}

// menuProps is a dbusmenu item's properties, (ia{sv}).
type menuProps struct {
	ID    int32
	Props map[string]dbus.Variant
}

// menuEvent is one event of EventGroup, (isvu).
type menuEvent struct {
	ID        int32
	Event     string
	Data      dbus.Variant
	Timestamp uint32
}

// menuItem is an entry of the served menu with its dbusmenu id.
type menuItem struct {
	id int32
	e  Entry
}

// errUnknownID answers a dbusmenu call for an item that is not (or no
// longer) in the menu.
func errUnknownID(id int32) *dbus.Error {
	return dbus.NewError("com.canonical.dbusmenu.UnknownId", []any{fmt.Sprintf("no menu item %d", id)})
}

// sni is the icon and menu served on the session bus. The bus calls
// handlers in goroutines of their own; they read the state under mu.
type sni struct {
	conn    *dbus.Conn
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

func newSNI(conn *dbus.Conn, log *slog.Logger, done <-chan struct{}) *sni {
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
func (s *sni) export() error {
	tables := []struct {
		path  dbus.ObjectPath
		iface string
		m     map[string]any
	}{
		{sniPath, sniIface, s.itemMethods()},
		{sniPath, propsIface, propsMethods(sniIface, s.itemProps)},
		{sniPath, introspectIface, introspectMethods(sniIntrospection)},
		{menuPath, menuIface, s.menuMethods()},
		{menuPath, propsIface, propsMethods(menuIface, menuObjectProps)},
		{menuPath, introspectIface, introspectMethods(menuIntrospection)},
	}
	for _, t := range tables {
		if err := s.conn.ExportMethodTable(t.m, t.path, t.iface); err != nil {
			return fmt.Errorf("export %s on %s: %w", t.iface, t.path, err)
		}
	}
	reply, err := s.conn.RequestName(s.service, dbus.NameFlagDoNotQueue)
	if err != nil {
		return fmt.Errorf("request the bus name %s: %w", s.service, err)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		return fmt.Errorf("the bus name %s is taken (reply %d)", s.service, reply)
	}
	return nil
}

// register tells the watcher (the desktop's tray host) about the item.
func (s *sni) register(ctx context.Context) error {
	w := s.conn.Object(watcherName, watcherPath)
	if err := w.CallWithContext(ctx, watcherName+".RegisterStatusNotifierItem", 0, s.service).Err; err != nil {
		return fmt.Errorf("register with the StatusNotifierWatcher: %w", err)
	}
	return nil
}

// signal is a DBus signal to send.
type signal struct {
	path dbus.ObjectPath
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
func (s *sni) itemProps() map[string]dbus.Variant {
	s.mu.Lock()
	defer s.mu.Unlock()
	noIcon := []sniPixmap{}
	return map[string]dbus.Variant{
		"Category":            dbus.MakeVariant("ApplicationStatus"),
		"Id":                  dbus.MakeVariant(sniID),
		"Title":               dbus.MakeVariant(s.title),
		"Status":              dbus.MakeVariant(s.statusLocked()),
		"WindowId":            dbus.MakeVariant(int32(0)),
		"IconName":            dbus.MakeVariant(""),
		"IconPixmap":          dbus.MakeVariant(s.icon),
		"OverlayIconName":     dbus.MakeVariant(""),
		"OverlayIconPixmap":   dbus.MakeVariant(noIcon),
		"AttentionIconName":   dbus.MakeVariant(""),
		"AttentionIconPixmap": dbus.MakeVariant(s.icon),
		"AttentionMovieName":  dbus.MakeVariant(""),
		"IconThemePath":       dbus.MakeVariant(""),
		"ToolTip":             dbus.MakeVariant(sniTooltip{Pixmaps: noIcon, Title: s.tooltip}),
		// The item is only a menu: a left click opens it too.
		"ItemIsMenu": dbus.MakeVariant(true),
		"Menu":       dbus.MakeVariant(menuPath),
	}
}

// menuObjectProps returns the properties of the menu object.
func menuObjectProps() map[string]dbus.Variant {
	return map[string]dbus.Variant{
		"Version":       dbus.MakeVariant(uint32(3)), // of the dbusmenu protocol
		"TextDirection": dbus.MakeVariant("ltr"),
		"Status":        dbus.MakeVariant("normal"),
		"IconThemePath": dbus.MakeVariant([]string{}),
	}
}

// itemMethods are the StatusNotifierItem's methods. The item is a menu:
// the host shows the menu on clicks, and a host that activates the item
// instead refreshes it like an opened menu.
func (s *sni) itemMethods() map[string]any {
	activate := func(x, y int32) *dbus.Error {
		s.tellOpened()
		return nil
	}
	return map[string]any{
		"Activate":          activate,
		"SecondaryActivate": activate,
		"ContextMenu":       activate,
		"Scroll":            func(delta int32, orientation string) *dbus.Error { return nil },
	}
}

// menuMethods are com.canonical.dbusmenu's methods.
func (s *sni) menuMethods() map[string]any {
	return map[string]any{
		"GetLayout": func(parent, depth int32, names []string) (uint32, menuLayout, *dbus.Error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			l, ok := s.layoutLocked(parent, depth, names)
			if !ok {
				return 0, menuLayout{}, errUnknownID(parent)
			}
			return s.revision, l, nil
		},
		"GetGroupProperties": func(ids []int32, names []string) ([]menuProps, *dbus.Error) {
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
			return out, nil
		},
		"GetProperty": func(id int32, name string) (dbus.Variant, *dbus.Error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			p, ok := s.propsLocked(id, []string{name})
			if !ok {
				return dbus.Variant{}, errUnknownID(id)
			}
			v, ok := p[name]
			if !ok {
				return dbus.Variant{}, dbus.MakeFailedError(fmt.Errorf("menu item %d has no property %q", id, name))
			}
			return v, nil
		},
		"Event": func(id int32, event string, data dbus.Variant, timestamp uint32) *dbus.Error {
			if !s.event(id, event) {
				return errUnknownID(id)
			}
			return nil
		},
		"EventGroup": func(events []menuEvent) ([]int32, *dbus.Error) {
			bad := []int32{}
			for _, e := range events {
				if !s.event(e.ID, e.Event) {
					bad = append(bad, e.ID)
				}
			}
			return bad, nil
		},
		"AboutToShow": func(id int32) (bool, *dbus.Error) {
			if id == 0 {
				s.tellOpened()
			}
			// The menu is sent whole: a refresh that changes it sends
			// LayoutUpdated, so the host never needs to ask again.
			return false, nil
		},
		"AboutToShowGroup": func(ids []int32) ([]int32, []int32, *dbus.Error) {
			for _, id := range ids {
				if id == 0 {
					s.tellOpened()
				}
			}
			return []int32{}, []int32{}, nil
		},
	}
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
	l := menuLayout{ID: parent, Props: props, Children: []dbus.Variant{}}
	if parent != 0 || depth == 0 {
		return l, true
	}
	for _, it := range s.items {
		c, _ := s.layoutLocked(it.id, 0, names)
		l.Children = append(l.Children, dbus.MakeVariant(c))
	}
	return l, true
}

// propsLocked returns item id's properties, only those named when names
// is not empty.
func (s *sni) propsLocked(id int32, names []string) (map[string]dbus.Variant, bool) {
	var p map[string]dbus.Variant
	if id == 0 {
		p = map[string]dbus.Variant{"children-display": dbus.MakeVariant("submenu")}
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
	only := make(map[string]dbus.Variant, len(names))
	for _, n := range names {
		if v, ok := p[n]; ok {
			only[n] = v
		}
	}
	return only, true
}

// entryProps returns the dbusmenu properties of e; properties at their
// default value (enabled, visible, a standard item) are left out.
func entryProps(e Entry) map[string]dbus.Variant {
	if e.Kind == KindSeparator {
		return map[string]dbus.Variant{"type": dbus.MakeVariant("separator")}
	}
	p := map[string]dbus.Variant{"label": dbus.MakeVariant(menuLabel(e.Title))}
	if e.Disabled || e.Kind == KindLabel {
		p["enabled"] = dbus.MakeVariant(false)
	}
	return p
}

// propsMethods are org.freedesktop.DBus.Properties for an object with
// the read-only properties of iface that props returns.
func propsMethods(iface string, props func() map[string]dbus.Variant) map[string]any {
	unknown := func(name string) *dbus.Error {
		return dbus.NewError("org.freedesktop.DBus.Error.UnknownInterface", []any{"no interface " + name})
	}
	return map[string]any{
		"Get": func(in, name string) (dbus.Variant, *dbus.Error) {
			if in != iface {
				return dbus.Variant{}, unknown(in)
			}
			v, ok := props()[name]
			if !ok {
				return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{"no property " + name})
			}
			return v, nil
		},
		"GetAll": func(in string) (map[string]dbus.Variant, *dbus.Error) {
			if in != iface {
				return nil, unknown(in)
			}
			return props(), nil
		},
		"Set": func(in, name string, v dbus.Variant) *dbus.Error {
			return dbus.NewError("org.freedesktop.DBus.Error.PropertyReadOnly", []any{"property " + name + " is read-only"})
		},
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
