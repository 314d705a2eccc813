//go:build unix && !darwin

package tray

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// hostReady checks that the session bus the icon is served on is there.
func hostReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := connectSessionBus(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return fmt.Errorf("no DBus session bus for the tray icon: %w", err)
	}
	return conn.Close()
}
