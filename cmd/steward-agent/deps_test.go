package main

import (
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/deptest"
)

// TestDependencies fails when the agent binary links a package it must not:
// anything of the server (every module package other than the wire
// protocol, the schedule leaf and the agent tree), database drivers, the browser test driver or
// the metrics server library. It checks each OS the agent ships for, since
// per-OS files have their own imports.
func TestDependencies(t *testing.T) {
	forbidden := []string{
		"modernc.org/sqlite", "github.com/jackc/pgx", "database/sql",
		"github.com/chromedp", "github.com/prometheus", "html/template",
	}
	for _, goos := range []string{"linux", "windows", "darwin"} {
		t.Run(goos, func(t *testing.T) {
			for _, pkg := range deptest.Deps(t, ".", goos) {
				if rel, ours := strings.CutPrefix(pkg, deptest.Module); ours && rel != "cmd/steward-agent" &&
					!deptest.Within(rel, "internal/protocol", "internal/schedule", "internal/agent") {
					t.Errorf("steward-agent links %s; it may only use internal/protocol, internal/schedule and internal/agent/...", rel)
				}
				if deptest.Within(pkg, forbidden...) {
					t.Errorf("steward-agent links %s", pkg)
				}
			}
		})
	}
}

// TestLightDependencies keeps gopsutil's host and process packages out of
// the Linux and Windows agents: they cost size and compile patterns at
// start for the few reads the agent makes itself there
// (docs/benchmarks.md). On macOS gopsutil does real work and stays.
func TestLightDependencies(t *testing.T) {
	heavy := []string{"github.com/shirou/gopsutil/v4/process", "github.com/shirou/gopsutil/v4/host"}
	for _, goos := range []string{"linux", "windows"} {
		t.Run(goos, func(t *testing.T) {
			for _, pkg := range deptest.Deps(t, ".", goos) {
				if deptest.Within(pkg, heavy...) {
					t.Errorf("steward-agent for %s links %s", goos, pkg)
				}
			}
		})
	}
}

// TestSmallTray keeps what the tray once linked out of the agents that do
// not need it (docs/benchmarks.md): godbus on Linux (the tray speaks DBus
// itself, 0.3 MB less) and image/png where the icon is not PNG (its
// package init links the decoder).
func TestSmallTray(t *testing.T) {
	heavy := map[string][]string{
		"linux":   {"github.com/godbus/dbus", "fyne.io/systray", "image/png"},
		"windows": {"image/png"},
	}
	for goos, pkgs := range heavy {
		t.Run(goos, func(t *testing.T) {
			for _, pkg := range deptest.Deps(t, ".", goos) {
				if deptest.Within(pkg, pkgs...) {
					t.Errorf("steward-agent for %s links %s", goos, pkg)
				}
			}
		})
	}
}
