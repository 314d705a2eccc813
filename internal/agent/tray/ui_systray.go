//go:build !unix

package tray

import (
	"context"
	"os"
	"sync"
	"time"

	"fyne.io/systray"
)

// readyTimeout bounds the wait for systray to come up.
const readyTimeout = time.Minute

// Supported reports whether this build can show a tray icon.
func Supported() error { return nil }

// show runs the system tray (fyne.io/systray) with model m until ctx ends
// or the policy hides the icon. systray must run on the main thread, where
// cli runs the UI; the polling and clicks run in one goroutine beside it.
func (u *UI) show(ctx context.Context, m Model) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan struct{})
	var hidden bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Quit ends systray.Run below, whatever made the loop end.
		defer systray.Quit()
		// Quit before the tray is ready is lost on Windows: wait for it.
		select {
		case <-ready:
		case <-time.After(readyTimeout):
			// On Windows systray never gets ready when it cannot make its
			// window (no desktop yet at logon), and Run cannot be ended
			// then: exit, and let the parent start a new UI later.
			u.Log.Error("the notification area did not take the icon; exiting to be restarted", "waited", readyTimeout)
			os.Exit(1)
		}
		var menu trayMenu
		defer menu.clear()
		menu.draw(nil, m, true)
		// systray on Linux and macOS calls onReady before it publishes the
		// icon's properties, and may drop an icon or tooltip set in
		// between: set them again on the first refreshes.
		hidden = u.loop(ctx, &menu, m, 3)
	}()
	systray.Run(func() { close(ready) }, nil)
	cancel()
	wg.Wait()
	if hidden {
		return ErrHidden
	}
	return nil
}

// trayMenu is the drawn menu: its items and the goroutines that pass
// their clicks to the loop.
type trayMenu struct {
	clicks chan Entry
	done   chan struct{} // closed to stop the forwarders
	wg     sync.WaitGroup
}

// draw changes what differs from old (nil at first) to m: icon,
// tooltip, title (all three again when force) and, when an entry changed,
// the whole menu.
func (t *trayMenu) draw(old *Model, m Model, force bool) {
	if old == nil {
		t.clicks = make(chan Entry)
		old = &Model{State: -1}
	}
	if force || old.State != m.State {
		systray.SetIcon(platformIcon(m.State))
	}
	if force || old.Tooltip != m.Tooltip {
		systray.SetTooltip(m.Tooltip)
	}
	if force || old.Title != m.Title {
		systray.SetTitle(m.Title)
	}
	if old.Entries != nil && entriesEqual(old.Entries, m.Entries) {
		return
	}
	t.clear()
	t.done = make(chan struct{})
	for _, e := range m.Entries {
		if e.Kind == KindSeparator {
			systray.AddSeparator()
			continue
		}
		item := systray.AddMenuItem(menuLabel(e.Title), "")
		if e.Disabled || e.Kind == KindLabel {
			item.Disable()
			continue
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			// Remove (in ResetMenu) closes ClickedCh.
			for range item.ClickedCh {
				select {
				case t.clicks <- e:
				case <-t.done:
					return
				}
			}
		}()
	}
}

func (t *trayMenu) clicked() <-chan Entry { return t.clicks }

// opened: systray's TrayOpenedCh ticks on macOS (and Linux); on Windows it
// never does.
func (t *trayMenu) opened() <-chan struct{} { return systray.TrayOpenedCh }

// clear removes the items and waits for their forwarders.
func (t *trayMenu) clear() {
	if t.done == nil {
		return
	}
	close(t.done)
	systray.ResetMenu()
	t.wg.Wait()
	t.done = nil
}
