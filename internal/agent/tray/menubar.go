package tray

import (
	"log/slog"
	"sync"
)

// This file is the Go side of the macOS menu bar item: which Cocoa menu
// items a model makes, which entry a click on one of them means, and
// which drawing runs on the main thread. ui_darwin.go only carries it out
// with AppKit. It has no build tag so that it is tested on every OS.

// itemSpec is one NSMenuItem to make.
type itemSpec struct {
	Title     string
	Separator bool
	Enabled   bool
	// Tag is the NSMenuItem tag its clicks report; 0 (Cocoa's default)
	// for an item that cannot be clicked.
	Tag int
}

// statusItem is the menu bar item as the main thread changes it:
// ui_darwin.go implements it with NSStatusItem, the tests with a
// recorder. Its methods run on the main thread only.
type statusItem interface {
	setIcon(s State) // drawn as PNG where it runs (macOS only links image/png)
	setTooltip(text string)
	setMenu(items []itemSpec)
}

// menuBar is the macOS view (see the view interface in ui.go): draw hands
// the changes to the main thread; clicks and menu openings come back from
// the main thread through click and menuOpened.
type menuBar struct {
	queue *mainQueue
	item  statusItem // used on the main thread only
	log   *slog.Logger

	clicks chan Entry
	opens  chan struct{}

	mu      sync.Mutex
	nextTag int
	byTag   map[int]Entry // the entries of the menu drawn last, by tag
}

func newMenuBar(q *mainQueue, item statusItem, log *slog.Logger) *menuBar {
	return &menuBar{
		queue: q,
		item:  item,
		log:   log,
		// A few clicks may wait while the poller asks the agent; the
		// main thread never blocks on them (see click).
		clicks: make(chan Entry, 4),
		opens:  make(chan struct{}, 1),
	}
}

var _ view = (*menuBar)(nil)

// draw changes what differs from old (nil at first) to m: icon, tooltip
// (both again when force) and, when an entry changed, the whole menu. It
// runs on the poller's goroutine and does not wait for the main thread.
//
// The company name is not set as the item's title: macOS would show it
// as text beside the icon in the menu bar, where space is short; it is
// the menu's first line.
func (b *menuBar) draw(old *Model, m Model, force bool) {
	icon := old == nil || force || old.State != m.State
	tooltip := old == nil || force || old.Tooltip != m.Tooltip
	var items []itemSpec
	menu := old == nil || old.Entries == nil || !entriesEqual(old.Entries, m.Entries)
	if menu {
		items = b.items(m.Entries)
	}
	b.queue.post(func() {
		if icon {
			b.item.setIcon(m.State)
		}
		if tooltip {
			b.item.setTooltip(m.Tooltip)
		}
		if menu {
			b.item.setMenu(items)
		}
	})
}

// items makes the menu items for entries, with new tags: a click the user
// made in a menu drawn before the change (its event already on its way)
// then hits nothing rather than the entry now at that place.
func (b *menuBar) items(entries []Entry) []itemSpec {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.byTag = make(map[int]Entry)
	items := make([]itemSpec, 0, len(entries))
	for _, e := range entries {
		if e.Kind == KindSeparator {
			items = append(items, itemSpec{Separator: true})
			continue
		}
		// Cocoa menus have no access-key marks: titles are shown as they are.
		it := itemSpec{Title: e.Title}
		if !e.Disabled && e.Kind != KindLabel {
			b.nextTag++
			it.Enabled, it.Tag = true, b.nextTag
			b.byTag[it.Tag] = e
		}
		items = append(items, it)
	}
	return items
}

// click passes on a click on the item tagged tag (from the main thread).
// It never blocks: a click while a few are waiting is dropped and logged.
func (b *menuBar) click(tag int) {
	b.mu.Lock()
	e, ok := b.byTag[tag]
	b.mu.Unlock()
	if !ok {
		return
	}
	select {
	case b.clicks <- e:
	default:
		b.log.Warn("menu click dropped: the tray is busy", "entry", e.Title)
	}
}

// menuOpened tells the poller that the user opened the menu (from the
// main thread, NSMenuDelegate's menuWillOpen:); one pending refresh is
// enough.
func (b *menuBar) menuOpened() {
	select {
	case b.opens <- struct{}{}:
	default:
	}
}

func (b *menuBar) clicked() <-chan Entry { return b.clicks }

func (b *menuBar) opened() <-chan struct{} { return b.opens }
