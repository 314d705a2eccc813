//go:build unix && !darwin

package tray

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Supported reports whether this build can show a tray icon.
func Supported() error { return nil }

// show serves the icon on the session bus (sni.go) with model m until ctx
// ends or the policy hides the icon. Without a tray host the item stays
// on the bus and registers when one appears.
func (u *UI) show(outer context.Context, m Model) error {
	ctx, cancel := context.WithCancel(outer)
	defer cancel()
	conn, err := connectSessionBus(ctx, u.Log)
	if err != nil {
		return fmt.Errorf("connect to the DBus session bus: %w", err)
	}
	defer conn.Close()
	s := newSNI(conn, u.Log, ctx.Done())
	// Drawn before it is exported: no call sees an empty item.
	s.draw(nil, m, true)
	if err := s.export(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.stayRegistered(ctx)
		// It returns before ctx ends only when the connection closed (the
		// bus went away): there is nothing to show on any more.
		cancel()
	}()
	hidden := u.loop(ctx, s, m, 0)
	cancel()
	wg.Wait()
	switch {
	case hidden:
		return ErrHidden
	case outer.Err() == nil:
		return errors.New("lost the connection to the DBus session bus")
	}
	return nil
}

// stayRegistered registers the item with the StatusNotifierWatcher, and
// again whenever the watcher's name gets a new owner (the panel
// restarted, or a desktop without one started it later), until ctx ends.
func (s *sni) stayRegistered(ctx context.Context) {
	// Subscribe before the first attempt, so a watcher that starts in
	// between is not missed.
	sigs := s.conn.Signals()
	err := s.conn.AddMatch(ctx, "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"+
		"interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='"+watcherName+"'")
	if err != nil {
		s.log.Warn("cannot watch for a new tray host; registering once", "err", err)
	}
	var logged string
	try := func() {
		err := s.register(ctx)
		switch {
		case err == nil:
			s.log.Info("the tray icon is registered with the tray host")
			logged = ""
		case ctx.Err() == nil && err.Error() != logged:
			s.log.Info("no tray host took the icon yet; it appears when one starts", "err", err)
			logged = err.Error()
		}
	}
	try()
	for {
		select {
		case <-ctx.Done():
			return
		case sig, ok := <-sigs:
			if !ok {
				return // the connection closed
			}
			if sig.Name() != "org.freedesktop.DBus.NameOwnerChanged" || len(sig.body) != 3 {
				continue
			}
			name, _ := sig.body[0].(string)
			owner, _ := sig.body[2].(string)
			if name == watcherName && owner != "" {
				try()
			}
		}
	}
}
