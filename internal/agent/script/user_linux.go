package script

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// logindSessions is where systemd-logind describes the sessions.
const logindSessions = "/run/systemd/sessions"

// sessionUser is the user of the active session on a local seat (the
// one at the machine's screen or console), as systemd-logind reports it.
func sessionUser() (*account, error) {
	uid, err := activeSessionUID(logindSessions)
	if err != nil {
		return nil, err
	}
	return lookupAccount(uid)
}

// activeSessionUID reads logind's session files in dir and returns the
// user of the active user session on a seat, a graphical one first.
func activeSessionUID(dir string) (uint32, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("cannot tell who is logged in without systemd-logind (%s): %w", dir, ErrNoUser)
	}
	if err != nil {
		return 0, fmt.Errorf("sessions: %w", err)
	}
	type found struct {
		uid       uint32
		graphical bool
		name      string
	}
	var cands []found
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		kv, err := readEnvFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if kv["ACTIVE"] != "1" || kv["SEAT"] == "" || (kv["CLASS"] != "" && kv["CLASS"] != "user") {
			continue
		}
		if st := kv["STATE"]; st != "" && st != "active" {
			continue
		}
		uid, err := strconv.ParseUint(kv["UID"], 10, 32)
		if err != nil {
			continue
		}
		t := kv["TYPE"]
		cands = append(cands, found{uid: uint32(uid), graphical: t == "x11" || t == "wayland" || t == "mir", name: e.Name()})
	}
	if len(cands) == 0 {
		return 0, ErrNoUser
	}
	slices.SortFunc(cands, func(a, b found) int {
		if a.graphical != b.graphical {
			if a.graphical {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return cands[0].uid, nil
}

// readEnvFile reads KEY=VALUE lines (logind's session files).
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = v
		}
	}
	return kv, sc.Err()
}
