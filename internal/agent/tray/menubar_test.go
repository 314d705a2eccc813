package tray

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/deptest"
)

// recordedItem is a statusItem that records what the main thread set.
type recordedItem struct {
	mu       sync.Mutex
	icons    []State
	tooltips []string
	menus    [][]itemSpec
	changed  chan struct{} // ticks after a change; never blocks the setter
}

func newRecordedItem() *recordedItem { return &recordedItem{changed: make(chan struct{}, 1)} }

func (r *recordedItem) tick() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recordedItem) setIcon(s State) {
	r.mu.Lock()
	r.icons = append(r.icons, s)
	r.mu.Unlock()
	r.tick()
}

func (r *recordedItem) setTooltip(s string) {
	r.mu.Lock()
	r.tooltips = append(r.tooltips, s)
	r.mu.Unlock()
	r.tick()
}

func (r *recordedItem) setMenu(items []itemSpec) {
	r.mu.Lock()
	r.menus = append(r.menus, slices.Clone(items))
	r.mu.Unlock()
	r.tick()
}

// counts returns how many icons, tooltips and menus were set.
func (r *recordedItem) counts() [3]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return [3]int{len(r.icons), len(r.tooltips), len(r.menus)}
}

func (r *recordedItem) lastMenu() []itemSpec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.menus[len(r.menus)-1]
}

func (r *recordedItem) lastTooltip() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tooltips[len(r.tooltips)-1]
}

// lastIconState is the state of the last icon set.
func (r *recordedItem) lastIconState(t *testing.T) State {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.icons[len(r.icons)-1]
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// manualBar is a menuBar whose main thread is the test: drain runs what
// draw queued.
func manualBar() (*menuBar, *recordedItem, func()) {
	item := newRecordedItem()
	q := &mainQueue{wake: func() {}}
	return newMenuBar(q, item, discard), item, q.drain
}

func TestMenuBarItems(t *testing.T) {
	b, _, _ := manualBar()
	entries := []Entry{
		{Kind: KindLabel, Title: "Acme_IT & Co", Disabled: true},
		{Kind: KindLabel, Title: "Connected", Disabled: true},
		{Kind: KindSeparator},
		{Kind: KindLink, Title: "Portal", URL: "https://portal.example"},
		{Kind: KindLabel, Title: "label not marked disabled"},
		{Kind: KindSeparator},
		{Kind: KindHelp, Title: "Request help…", Disabled: true},
		{Kind: KindAbout, Title: "About this computer"},
	}
	got := b.items(entries)
	// Cocoa menus have no access keys: "_" and "&" are shown as they are.
	want := []itemSpec{
		{Title: "Acme_IT & Co"},
		{Title: "Connected"},
		{Separator: true},
		{Title: "Portal", Enabled: true, Tag: 1},
		{Title: "label not marked disabled"},
		{Separator: true},
		{Title: "Request help…"},
		{Title: "About this computer", Enabled: true, Tag: 2},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("items (-want +got):\n%s", d)
	}

	// A rebuild gives new tags.
	again := b.items(entries)
	if again[3].Tag != 3 || again[7].Tag != 4 {
		t.Errorf("rebuilt tags %d, %d; want 3, 4", again[3].Tag, again[7].Tag)
	}
}

func TestMenuBarClicks(t *testing.T) {
	b, _, _ := manualBar()
	entries := []Entry{
		{Kind: KindLabel, Title: "Acme", Disabled: true},
		{Kind: KindLink, Title: "Portal", URL: "https://portal.example"},
		{Kind: KindAbout, Title: "About this computer"},
	}
	items := b.items(entries)

	// Tag 0 (a label, Cocoa's default) and unknown tags do nothing.
	for _, tag := range []int{0, -1, 99} {
		b.click(tag)
	}
	if len(b.clicks) != 0 {
		t.Fatalf("a click on no entry was passed on: %v", <-b.clicks)
	}
	b.click(items[1].Tag)
	if got := <-b.clicked(); got != entries[1] {
		t.Errorf("clicked %v, want %v", got, entries[1])
	}

	// The menu changes: a click from the old menu hits nothing.
	next := slices.Clone(entries)
	next[1] = Entry{Kind: KindLink, Title: "Other", URL: "https://other.example"}
	newItems := b.items(next)
	b.click(items[1].Tag)
	if len(b.clicks) != 0 {
		t.Fatalf("a click on a stale tag was passed on: %v", <-b.clicks)
	}
	b.click(newItems[1].Tag)
	if got := <-b.clicked(); got != next[1] {
		t.Errorf("clicked %v, want %v", got, next[1])
	}

	// The main thread never blocks on clicks: with nobody reading, the
	// ones beyond the buffer are dropped.
	returned := make(chan struct{})
	go func() {
		for range cap(b.clicks) + 3 {
			b.click(newItems[2].Tag)
		}
		close(returned)
	}()
	<-returned
	if len(b.clicks) != cap(b.clicks) {
		t.Errorf("%d clicks waiting, want %d", len(b.clicks), cap(b.clicks))
	}

	// Opening the menu wakes the loop; openings pile up into one.
	b.menuOpened()
	b.menuOpened()
	<-b.opened()
	select {
	case <-b.opened():
		t.Error("two openings woke the loop twice")
	default:
	}
}

func TestMenuBarDraw(t *testing.T) {
	b, item, drain := manualBar()
	m := Build(Status{Connected: true}, nil, DefaultConfig())

	b.draw(nil, m, false)
	if c := item.counts(); c != [3]int{} {
		t.Fatalf("draw touched the item before the main thread ran: %v", c)
	}
	drain()
	if c := item.counts(); c != [3]int{1, 1, 1} {
		t.Fatalf("first draw set icons, tooltips, menus %v, want one of each", c)
	}
	if s := item.lastIconState(t); s != StateConnected {
		t.Errorf("icon state %v, want connected", s)
	}

	step := func(name string, next Model, force bool, want [3]int) {
		t.Helper()
		before := item.counts()
		b.draw(&m, next, force)
		drain()
		after := item.counts()
		got := [3]int{after[0] - before[0], after[1] - before[1], after[2] - before[2]}
		if got != want {
			t.Errorf("%s: set icons, tooltips, menus %v, want %v", name, got, want)
		}
		m = next
	}
	attention := Build(Status{Connected: true, Attention: "disk full"}, nil, DefaultConfig())
	step("same model", m, false, [3]int{})
	step("forced", m, true, [3]int{1, 1, 0})
	// Attention changes the icon, the tooltip and the status line.
	step("attention", attention, false, [3]int{1, 1, 1})
	if s := item.lastIconState(t); s != StateAttention {
		t.Errorf("icon state %v, want attention", s)
	}
	if got, want := item.lastTooltip(), "Steward: Needs attention: disk full"; got != want {
		t.Errorf("tooltip %q, want %q", got, want)
	}
	cfg := DefaultConfig()
	cfg.About = false
	step("entry removed", Build(Status{Connected: true, Attention: "disk full"}, nil, cfg), false, [3]int{0, 0, 1})
	if got := item.lastMenu(); slices.ContainsFunc(got, func(i itemSpec) bool { return i.Title == "About this computer" }) {
		t.Errorf("the removed entry is still in the menu: %v", got)
	}
}

// TestMenuBarLoop runs the UI's loop with the macOS view, a fake agent and
// a goroutine playing the main thread (draining on each wake), as
// ui_darwin.go runs them: the icon follows the agent, opening the menu
// refreshes at once, a click on a link opens it, and the policy turning
// the icon off ends the loop.
func TestMenuBarLoop(t *testing.T) {
	agent := &fakeAgent{status: Status{Connected: true}, tray: json.RawMessage(`{"enabled": true, "links": [{"title": "Portal", "url": "https://portal.example"}]}`)}
	opened := make(chan string, 1)
	u := &UI{Agent: agent, Log: discard, Refresh: time.Hour, open: func(url string) error { opened <- url; return nil }}
	u.cfg = DefaultConfig()

	item := newRecordedItem()
	wakes := make(chan struct{}, 1)
	q := &mainQueue{wake: func() {
		select {
		case wakes <- struct{}{}:
		default:
		}
	}}
	mainDone := make(chan struct{})
	stopMain := make(chan struct{})
	go func() {
		defer close(mainDone)
		for {
			select {
			case <-wakes:
				q.drain()
			case <-stopMain:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stopMain); <-mainDone })

	bar := newMenuBar(q, item, discard)
	m := u.poll(t.Context())
	bar.draw(nil, m, true)
	waitDrawn(t, item, "the first draw", func() bool { return item.counts() == [3]int{1, 1, 1} })

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	hidden := make(chan bool, 1)
	go func() { hidden <- u.loop(ctx, bar, m, 0) }()

	// Refresh is an hour: only the opened menu makes the loop ask.
	agent.set(func(a *fakeAgent) { a.status = Status{} })
	bar.menuOpened()
	waitDrawn(t, item, "the disconnected tooltip", func() bool {
		return item.lastTooltip() == "Steward: Not connected to the server"
	})
	if s := item.lastIconState(t); s != StateDisconnected {
		t.Errorf("icon state %v, want disconnected", s)
	}

	// The agent stops answering: "Request help…" is greyed.
	agent.set(func(a *fakeAgent) { a.statusErr = errors.New("no agent") })
	bar.menuOpened()
	waitDrawn(t, item, "the greyed help entry", func() bool {
		i := slices.IndexFunc(item.lastMenu(), func(i itemSpec) bool { return strings.HasPrefix(i.Title, "Request help") })
		return i >= 0 && !item.lastMenu()[i].Enabled
	})

	menu := item.lastMenu()
	portal := slices.IndexFunc(menu, func(i itemSpec) bool { return i.Title == "Portal" })
	if portal < 0 || menu[portal].Tag == 0 {
		t.Fatalf("no clickable Portal item in %v", menu)
	}
	bar.click(menu[portal].Tag)
	if got := <-opened; got != "https://portal.example" {
		t.Errorf("the click opened %q", got)
	}

	agent.set(func(a *fakeAgent) {
		a.statusErr = nil
		a.tray = json.RawMessage(`{"enabled": false}`)
	})
	bar.menuOpened()
	if !<-hidden {
		t.Error("the loop ended without the policy hiding the icon")
	}
}

// waitDrawn waits until cond holds, checking after each change of item.
func waitDrawn(t *testing.T, item *recordedItem, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-item.changed:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestDarwinLinksPurego: the macOS tray is drawn through purego with cgo
// off, and fyne.io/systray (cgo only on macOS) is not linked there.
func TestDarwinLinksPurego(t *testing.T) {
	deps := deptest.Deps(t, ".", "darwin")
	if !slices.Contains(deps, "github.com/ebitengine/purego/objc") {
		t.Errorf("the macOS tray does not link purego's objc package")
	}
	for _, pkg := range deps {
		if deptest.Within(pkg, "fyne.io/systray", "github.com/godbus/dbus/v5") {
			t.Errorf("the macOS tray links %s", pkg)
		}
	}
}
