package tray

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// launcher opens URLs in the user's default browser, mail or phone
// program through the desktop's own opener (openCommand, per OS), and
// reaps the opener processes it started.
type launcher struct {
	log *slog.Logger
	// command is the opener's command line for a target: openCommand;
	// tests replace it.
	command func(target string) (string, []string)
	wg      sync.WaitGroup
}

// open starts the opener for u, which must have passed SafeURL; it does
// not wait, since some openers run as long as the browser they start.
func (l *launcher) open(u string) error {
	if _, ok := SafeURL(u); !ok {
		return fmt.Errorf("open %q: not an http, https, mailto or tel address", u)
	}
	return l.start(u)
}

// openFile opens the local file at path (a page's redirect) with the
// user's default program for it. Only the path is on the command line.
func (l *launcher) openFile(path string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("open %q: not an absolute path", path)
	}
	return l.start(fileTarget(path))
}

func (l *launcher) start(u string) error {
	command := l.command
	if command == nil {
		command = openCommand
	}
	name, args := command(u)
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("open %s with %s: %w", u, name, err)
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if err := cmd.Wait(); err != nil {
			l.log.Warn("the opener failed", "url", u, "opener", name, "err", err)
		}
	}()
	return nil
}

// wait waits for the openers to exit, at most until ctx ends: an opener
// that stays with its browser is left running.
func (l *launcher) wait(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
	}
}
