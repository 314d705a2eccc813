//go:build linux

package tray

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/steward-rmm/steward/internal/deptest"
)

var sniModel = Model{Visible: true, State: StateConnected, Title: "Acme", Tooltip: "Acme: Connected", Entries: []Entry{
	{Kind: KindLabel, Title: "Acme"},
	{Kind: KindSeparator},
	{Kind: KindLink, Title: "Portal", URL: "https://portal.example"},
	{Kind: KindHelp, Title: "Request help…", Disabled: true},
	{Kind: KindAbout, Title: "About this computer"},
}}

// busSNI serves an item drawn with sniModel on a private bus and returns
// it with a client connection that watches its signals.
func busSNI(t *testing.T) (*sni, *dbus.Conn, chan *dbus.Signal) {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon not installed (Debian package dbus-daemon)")
	}
	addr := startBus(t, daemon)
	own := ownConn(t, addr)
	client := connectBus(t, addr)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	s := newSNI(own, slog.New(slog.NewTextHandler(io.Discard, nil)), done)
	s.draw(nil, sniModel, true)
	if err := s.export(t.Context()); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan *dbus.Signal, 20)
	client.Signal(sigs)
	if err := client.AddMatchSignal(dbus.WithMatchSender(s.service)); err != nil {
		t.Fatal(err)
	}
	return s, client, sigs
}

// ownConn connects our own DBus connection (dbus_conn.go) to the bus at
// addr; the tests' other side is godbus, an independent implementation.
func ownConn(t *testing.T, addr string) *busConn {
	t.Helper()
	socket, err := unixSocket(addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialBus(t.Context(), socket, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// menuEvent is one event of EventGroup, (isvu), as a panel sends it.
type menuEvent struct {
	ID        int32
	Event     string
	Data      dbus.Variant
	Timestamp uint32
}

func errName(err error) string {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name
	}
	return ""
}

func TestSNIMenuCalls(t *testing.T) {
	s, client, _ := busSNI(t)
	menu := client.Object(s.service, dbus.ObjectPath(menuPath))
	first := s.items[0].id

	type node struct {
		ID       int32
		Props    map[string]dbus.Variant
		Children []dbus.Variant
	}
	for _, tc := range []struct {
		name             string
		parent, depth    int32
		names            []string
		wantErr          string
		wantChildren     int
		wantProps        []string
		wantChildLabel   string // label of the third child
		wantFirstEnabled any    // "enabled" of the first child, nil when absent
	}{
		{name: "whole menu", depth: -1, wantChildren: 5, wantProps: []string{"children-display"}, wantChildLabel: "Portal", wantFirstEnabled: false},
		{name: "root only", depth: 0, wantProps: []string{"children-display"}},
		{name: "only labels", depth: 1, names: []string{"label"}, wantChildren: 5, wantProps: []string{}, wantChildLabel: "Portal"},
		{name: "one item", parent: first + 2, depth: -1, wantProps: []string{"label"}},
		{name: "unknown item", parent: first + 99, depth: -1, wantErr: "com.canonical.dbusmenu.UnknownId"},
		{name: "negative id", parent: -5, depth: -1, wantErr: "com.canonical.dbusmenu.UnknownId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rev uint32
			var got node
			names := tc.names
			if names == nil {
				names = []string{}
			}
			err := menu.Call(menuIface+".GetLayout", 0, tc.parent, tc.depth, names).Store(&rev, &got)
			if tc.wantErr != "" {
				if errName(err) != tc.wantErr {
					t.Fatalf("error %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rev != s.revision || got.ID != tc.parent || len(got.Children) != tc.wantChildren {
				t.Fatalf("revision %d id %d with %d children, want %d %d %d", rev, got.ID, len(got.Children), s.revision, tc.parent, tc.wantChildren)
			}
			var keys []string
			for k := range got.Props {
				keys = append(keys, k)
			}
			if !slices.Equal(keys, tc.wantProps) && !(len(keys) == 0 && len(tc.wantProps) == 0) {
				t.Errorf("properties %v, want %v", keys, tc.wantProps)
			}
			if tc.wantChildren == 0 {
				return
			}
			child := func(i int) map[string]dbus.Variant {
				c, _ := got.Children[i].Value().([]any)
				p, _ := c[1].(map[string]dbus.Variant)
				return p
			}
			if l := child(2)["label"].Value(); l != tc.wantChildLabel {
				t.Errorf("third label %v, want %q", l, tc.wantChildLabel)
			}
			if e := child(0)["enabled"]; tc.wantFirstEnabled != nil && e.Value() != tc.wantFirstEnabled {
				t.Errorf("first entry enabled %v, want %v", e, tc.wantFirstEnabled)
			}
			if tc.names != nil {
				if _, ok := child(1)["type"]; ok {
					t.Errorf("separator kept its type although only %v were asked", tc.names)
				}
			}
		})
	}

	var v dbus.Variant
	if err := menu.Call(menuIface+".GetProperty", 0, first+4, "label").Store(&v); err != nil || v.Value() != "About this computer" {
		t.Errorf("GetProperty label: %v %v", v, err)
	}
	if err := menu.Call(menuIface+".GetProperty", 0, first+4, "icon-data").Err; err == nil {
		t.Error("GetProperty of a missing property answered")
	}
	var bad []int32
	events := []menuEvent{{ID: first + 2, Event: "hovered", Data: dbus.MakeVariant("")}, {ID: first + 50, Event: "clicked", Data: dbus.MakeVariant("")}}
	if err := menu.Call(menuIface+".EventGroup", 0, events).Store(&bad); err != nil || !slices.Equal(bad, []int32{first + 50}) {
		t.Errorf("EventGroup errors %v %v, want [%d]", bad, err, first+50)
	}
	if len(s.clicks) != 0 {
		t.Error("a hover or an unknown id was taken as a click")
	}

	// The item's properties, read-only.
	item := client.Object(s.service, dbus.ObjectPath(sniPath))
	if err := item.Call(propsIface+".Set", 0, sniIface, "Title", dbus.MakeVariant("x")).Err; errName(err) != "org.freedesktop.DBus.Error.PropertyReadOnly" {
		t.Errorf("Set: %v", err)
	}
	if err := item.Call(propsIface+".Get", 0, sniIface, "Nope").Err; errName(err) != "org.freedesktop.DBus.Error.UnknownProperty" {
		t.Errorf("Get unknown: %v", err)
	}
	if err := item.Call(propsIface+".GetAll", 0, menuIface).Err; errName(err) != "org.freedesktop.DBus.Error.UnknownInterface" {
		t.Errorf("GetAll of another interface: %v", err)
	}
	var all map[string]dbus.Variant
	if err := item.Call(propsIface+".GetAll", 0, sniIface).Store(&all); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Category", "Id", "Title", "Status", "IconPixmap", "ToolTip", "ItemIsMenu", "Menu"} {
		if _, ok := all[name]; !ok {
			t.Errorf("GetAll lacks %s", name)
		}
	}
	if all["Menu"].Value() != dbus.ObjectPath(menuPath) || all["ItemIsMenu"].Value() != true || all["Title"].Value() != "Acme" {
		t.Errorf("GetAll gave %v", all)
	}
}

func TestSNIClicks(t *testing.T) {
	s, client, _ := busSNI(t)
	menu := client.Object(s.service, dbus.ObjectPath(menuPath))
	first := s.items[0].id
	click := func(id int32) error {
		return menu.Call(menuIface+".Event", 0, id, "clicked", dbus.MakeVariant(""), uint32(0)).Err
	}
	// A label and a disabled entry answer but do nothing.
	if err := click(first); err != nil {
		t.Fatal(err)
	}
	if err := click(first + 3); err != nil {
		t.Fatal(err)
	}
	if len(s.clicks) != 0 {
		t.Fatal("a label or a disabled entry was clicked")
	}
	if err := click(first + 2); err != nil {
		t.Fatal(err)
	}
	if got := <-s.clicked(); got != sniModel.Entries[2] {
		t.Errorf("clicked %v, want %v", got, sniModel.Entries[2])
	}

	// The menu changes: the old ids are gone, so a click the panel sends
	// from the old menu does not hit the entry now at that place.
	next := sniModel
	next.Entries = slices.Clone(sniModel.Entries)
	next.Entries[2] = Entry{Kind: KindLink, Title: "Other", URL: "https://other.example"}
	s.draw(&sniModel, next, false)
	if err := click(first + 2); errName(err) != "com.canonical.dbusmenu.UnknownId" {
		t.Errorf("click on a stale id: %v", err)
	}
	if err := click(s.items[2].id); err != nil {
		t.Fatal(err)
	}
	if got := <-s.clicked(); got != next.Entries[2] {
		t.Errorf("clicked %v, want %v", got, next.Entries[2])
	}

	// Opening the menu, in each way a host may tell it, wakes the loop.
	item := client.Object(s.service, dbus.ObjectPath(sniPath))
	for _, call := range []func() *dbus.Call{
		func() *dbus.Call { return menu.Call(menuIface+".AboutToShow", 0, int32(0)) },
		func() *dbus.Call { return menu.Call(menuIface+".AboutToShowGroup", 0, []int32{0}) },
		func() *dbus.Call {
			return menu.Call(menuIface+".Event", 0, int32(0), "opened", dbus.MakeVariant(""), uint32(0))
		},
		func() *dbus.Call { return item.Call(sniIface+".Activate", 0, int32(5), int32(5)) },
	} {
		c := call()
		if c.Err != nil {
			t.Fatalf("%s: %v", c.Method, c.Err)
		}
		select {
		case <-s.opened():
		default:
			t.Errorf("%s did not wake the loop", c.Method)
		}
	}
}

func TestSNISignals(t *testing.T) {
	s, _, sigs := busSNI(t)
	next := func(t *testing.T) string {
		t.Helper()
		var sig *dbus.Signal
		// The bus's own signals to the connection (NameAcquired) come
		// without a match rule.
		for sig == nil || sig.Sender == "org.freedesktop.DBus" {
			select {
			case sig = <-sigs:
			case <-time.After(30 * time.Second):
				t.Fatal("no signal")
			}
		}
		name := sig.Name[strings.LastIndex(sig.Name, ".")+1:]
		if len(sig.Body) > 0 {
			name += fmt.Sprint(sig.Body)
		}
		return name
	}
	m := sniModel
	steps := []struct {
		name string
		m    func(Model) Model
		want []string
	}{
		{"tooltip", func(m Model) Model { m.Tooltip = "changed"; return m }, []string{"NewToolTip"}},
		{"title", func(m Model) Model { m.Title = "Other"; return m }, []string{"NewTitle"}},
		{"state", func(m Model) Model { m.State = StateAttention; return m },
			[]string{"NewIcon", "NewAttentionIcon", "NewStatus[NeedsAttention]"}},
		{"menu", func(m Model) Model { m.Entries = m.Entries[:2]; return m }, []string{"LayoutUpdated[2 0]"}},
	}
	for _, st := range steps {
		n := st.m(m)
		s.draw(&m, n, false)
		m = n
		for _, want := range st.want {
			if got := next(t); got != want {
				t.Fatalf("%s: signal %s, want %s", st.name, got, want)
			}
		}
	}
	// Each step sent only its own signals: the next one comes from this
	// last, fenced draw.
	n := m
	n.Tooltip = "fence"
	s.draw(&m, n, false)
	if got := next(t); got != "NewToolTip" {
		t.Errorf("signal %s, want NewToolTip", got)
	}
}

// TestLinuxLinksNoSystray: on Linux the tray is sni.go on our own DBus
// connection. fyne.io/systray would bring back its DBus code (2 MB, mostly
// from godbus's reflective Export) and its init, which pins the main
// goroutine to the main thread; godbus itself costs 0.3 MB. The tests use
// godbus as the other side of the bus, so it stays a test dependency.
func TestLinuxLinksNoSystray(t *testing.T) {
	for _, pkg := range deptest.Deps(t, ".", "linux") {
		if deptest.Within(pkg, "fyne.io/systray", "github.com/godbus/dbus/v5", "image/png") {
			t.Errorf("the Linux tray links %s", pkg)
		}
	}
}

// FuzzSNIMenu calls the menu's methods with what any program on the
// session bus may send: they must not panic, answer unknown ids with
// UnknownId, keep to the properties asked for and pass on only clicks on
// clickable entries.
func FuzzSNIMenu(f *testing.F) {
	f.Add(int32(0), int32(-1), "", int32(3), "clicked")
	f.Add(int32(2), int32(0), "label", int32(1), "opened")
	f.Add(int32(-1), int32(5), "type", int32(99), "hovered")
	f.Fuzz(func(t *testing.T, parent, depth int32, name string, id int32, event string) {
		done := make(chan struct{})
		close(done)
		s := newSNI(nil, slog.New(slog.NewTextHandler(io.Discard, nil)), done)
		s.apply(nil, sniModel, true)
		m := s.menuMethods()
		names := []string{}
		if name != "" {
			names = []string{name}
		}
		known := parent == 0 || (parent >= 1 && int(parent) <= len(sniModel.Entries))
		// As the connection decodes them: arrays as []any.
		namesArg := []any{}
		for _, n := range names {
			namesArg = append(namesArg, n)
		}
		out, err := m["GetLayout"].call([]any{parent, depth, namesArg})
		if (err == nil) != known {
			t.Fatalf("GetLayout(%d): %v", parent, err)
		}
		if err == nil {
			l := out[1].(menuLayout)
			if l.ID != parent || (len(l.Children) != 0) != (parent == 0 && depth != 0) {
				t.Fatalf("GetLayout(%d, %d) gave id %d with %d children", parent, depth, l.ID, len(l.Children))
			}
			for k := range l.Props {
				if name != "" && k != name {
					t.Fatalf("GetLayout asked for %q gave %q", name, k)
				}
			}
		}
		out, _ = m["GetGroupProperties"].call([]any{[]any{parent, id}, namesArg})
		for _, p := range out[0].([]menuProps) {
			if p.ID != parent && p.ID != id {
				t.Fatalf("GetGroupProperties gave id %d", p.ID)
			}
		}
		s.event(id, event)
		select {
		case e := <-s.clicks:
			if event != "clicked" || e.Disabled || e.Kind == KindLabel || e.Kind == KindSeparator {
				t.Fatalf("event %q on %d passed on %v", event, id, e)
			}
		default:
		}
	})
}

// TestSNIBusLost: when the session bus goes away under the icon, the UI
// ends with an error (its parent starts a new one) instead of drawing
// into a closed connection.
func TestSNIBusLost(t *testing.T) {
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon not installed (Debian package dbus-daemon)")
	}
	addr, bus := startBusCmd(t, daemon)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
	_, items := startWatcher(t, addr)
	agent := &fakeAgent{status: Status{Connected: true}, tray: json.RawMessage(`{}`)}
	u := &UI{Agent: agent, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Refresh: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	select {
	case <-items:
	case err := <-done:
		t.Fatalf("the UI ended before registering: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the UI did not register")
	}
	if err := bus.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "session bus") {
			t.Errorf("the UI ended with %v, want the lost bus", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the UI kept running without its bus")
	}
}
