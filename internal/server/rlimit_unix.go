//go:build unix

package server

import (
	"log/slog"
	"syscall"
)

// raiseFileLimit lifts the soft open-file limit to the hard limit: every
// agent holds a socket, and the default soft limit (often 1024) would cap
// the server at about a thousand agents.
func raiseFileLimit(log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("read open-file limit", "err", err)
		return
	}
	if lim.Cur < lim.Max {
		old := lim.Cur
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			log.Warn("raise open-file limit", "from", old, "to", lim.Max, "err", err)
			return
		}
	}
	log.Info("open-file limit", "limit", lim.Cur)
}
