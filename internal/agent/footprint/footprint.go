// Package footprint keeps the agent's resident memory small: it sets the
// garbage collector's pace for a process whose live heap is a few hundred
// kilobytes, and hands memory back to the operating system after the rare
// bursts (an inventory report) that need much more.
//
// Where an idle agent's memory goes, measured (docs/benchmarks.md): about
// half is the program's own code and read-only data, mapped from its file;
// most of the rest is heap that is garbage or free but still held, not
// live objects.
package footprint

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"time"
)

// GCPercent is the collector's pace for the agent (GOGC). Go's default,
// 100, lets the heap grow to 4 MB before the first collection whatever
// the live heap, ten times the agent's; at 25 it collects every megabyte
// or so, once or twice a minute when idle, a fraction of a millisecond
// each.
const GCPercent = 25

// Tune sets the collector's pace and runs Go code on one thread at a
// time, unless the operator set GOGC or GOMAXPROCS. The agent waits on the
// network and the disk and never needs two cores; every extra processor
// Go runs keeps its own cache of heap spans and its own threads (0.8 MB
// less resident memory with one than with two, measured), and Go would
// run one per core of the machine.
func Tune() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}

// Release runs a collection and returns what the heap does not use to the
// operating system at once, rather than over minutes, then lets go of
// the pages of the program's file that only start-up and bursts used (see
// dropCode). Call it after a burst, when what it allocated is garbage.
func Release() error {
	debug.FreeOSMemory()
	return dropCode()
}

// TrimEvery is how often the running agent lets go of its program's file
// pages (Trim), so that what stays mapped is about the last ten seconds'
// work: the tray's poll (every 5 s), a heartbeat or a metrics pass and its
// send. Measured beside a minute: file-backed resident memory 4.2 against
// 4.6 MB on average, for about 300 more minor faults a minute
// (docs/benchmarks.md).
const TrimEvery = 10 * time.Second

// Trim lets go of the pages of the program's file every interval until
// ctx is done (see dropCode). Without it, every path the agent has run
// since the last Release stays mapped: measured, the file-backed part of
// its resident memory went from 4.0 MB in the first 90 s after a Release
// to 4.5-4.7 MB after eight minutes. Mapping back what runs again costs a
// few dozen minor faults. It returns at once where dropping pages does
// nothing.
func Trim(ctx context.Context, interval time.Duration, log *slog.Logger) {
	if canDropCode {
		every(ctx, interval, newTrimmer().drop, log)
	}
}

// every runs drop each interval until ctx is done.
func every(ctx context.Context, interval time.Duration, drop func() error, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := drop(); err != nil {
				log.DebugContext(ctx, "cannot drop code pages", "err", err)
			}
		}
	}
}
