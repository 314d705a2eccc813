package facts

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// On Linux the host facts are a few reads of /proc, /etc and /run rather
// than gopsutil's host package: that package links regexp and the process
// package (about 0.3 MB of the agent's binary) and, on systems without
// utmp such as Debian 13, runs loginctl for every users query, once a
// minute for the users metric.

// Where Linux keeps the host facts.
const (
	procStat     = "/proc/stat"
	utmpFile     = "/var/run/utmp"
	sessionsDir  = "/run/systemd/sessions"
	debianMarker = "/etc/debian_version"
)

var osReleaseFiles = []string{"/etc/os-release", "/usr/lib/os-release"}

// Platform names the distribution and its version from os-release: the ID
// ("debian", "ubuntu", "rhel") and VERSION_ID ("12", "24.04"). Debian's
// point release ("12.11") comes from /etc/debian_version when that holds a
// number.
func Platform(ctx context.Context) (name, version string, err error) {
	var data []byte
	for _, p := range osReleaseFiles {
		if data, err = os.ReadFile(p); err == nil {
			break
		}
	}
	if err != nil {
		return "", "", fmt.Errorf("read os-release: %w", err)
	}
	name, version = parseOSRelease(data)
	if name == "debian" {
		if b, err := os.ReadFile(debianMarker); err == nil {
			version = debianVersion(b, version)
		}
	}
	return name, version, nil
}

// parseOSRelease reads ID and VERSION_ID from an os-release file.
// Amazon Linux's "amzn" is spelled out, as gopsutil did.
func parseOSRelease(b []byte) (id, version string) {
	for line := range strings.Lines(string(b)) {
		key, val, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		val = strings.Trim(val, `"'`)
		switch key {
		case "ID":
			id = val
		case "VERSION_ID":
			version = val
		}
	}
	if id == "amzn" {
		id = "amazon"
	}
	return id, version
}

// debianVersion is the point release in /etc/debian_version ("12.11"),
// or fallback when the file names a suite instead ("trixie/sid" on testing).
func debianVersion(b []byte, fallback string) string {
	v, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	v = strings.TrimSpace(v)
	if v == "" || v[0] < '0' || v[0] > '9' {
		return fallback
	}
	return v
}

// KernelVersion is the running kernel's release ("6.1.0-28-amd64").
func KernelVersion(ctx context.Context) (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// KernelArch is the machine's architecture as the kernel names it
// ("x86_64", "aarch64").
func KernelArch() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Machine[:]), nil
}

// BootTime is when the machine started, from the btime line of
// /proc/stat.
func BootTime(ctx context.Context) (time.Time, error) {
	b, err := os.ReadFile(procStat)
	if err != nil {
		return time.Time{}, fmt.Errorf("read boot time: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || s <= 0 {
				return time.Time{}, fmt.Errorf("read boot time: bad btime %q", strings.TrimSpace(v))
			}
			return time.Unix(s, 0).UTC(), nil
		}
	}
	return time.Time{}, errors.New("read boot time: no btime in " + procStat)
}

// Uptime is how long the machine has been running.
func Uptime(ctx context.Context) (time.Duration, error) {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0, fmt.Errorf("sysinfo: %w", err)
	}
	return time.Duration(si.Uptime) * time.Second, nil
}

// Users lists the user of every login session, one entry a session: from
// utmp where the system keeps it, else from systemd-logind's session files
// (what loginctl and libsystemd's sd_get_sessions read), which replace utmp
// on newer distributions such as Debian 13.
func Users(ctx context.Context) ([]string, error) {
	b, err := os.ReadFile(utmpFile)
	if err == nil {
		return parseUtmp(b), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read utmp: %w", err)
	}
	users, lerr := logindUsers(os.DirFS(sessionsDir))
	if lerr != nil {
		if errors.Is(lerr, fs.ErrNotExist) {
			// Neither utmp nor logind: no one is logged in that we can see.
			return nil, nil
		}
		return nil, lerr
	}
	return users, nil
}

// The parts of glibc's struct utmp (utmp.h) that Users reads. The layout
// is the same on every Linux architecture (its times are 32-bit even on
// 64-bit ones); numbers are in the machine's byte order.
const (
	utmpSize       = 384
	utmpUserOffset = 44 // after ut_type (4, padded), ut_pid, ut_line[32], ut_id[4]
	utmpUserLen    = 32
	userProcess    = 7 // ut_type of a login session
)

// parseUtmp lists the users of utmp's login-session records. A trailing
// partial record is ignored.
func parseUtmp(b []byte) []string {
	var users []string
	for ; len(b) >= utmpSize; b = b[utmpSize:] {
		if int16(binary.NativeEndian.Uint16(b)) != userProcess {
			continue
		}
		name := b[utmpUserOffset : utmpUserOffset+utmpUserLen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if len(name) > 0 {
			users = append(users, string(name))
		}
	}
	return users
}

// logindUsers lists the users of the user sessions in a directory of
// systemd-logind session files (/run/systemd/sessions/ID, KEY=value lines).
// As utmp would, it counts sessions of class user that have a seat or a
// terminal, and leaves out the per-user service managers and greeters.
func logindUsers(dir fs.FS) ([]string, error) {
	entries, err := fs.ReadDir(dir, ".")
	if err != nil {
		return nil, fmt.Errorf("list logind sessions: %w", err)
	}
	var users []string
	for _, e := range entries {
		// Session files are named by session ID; "ID.ref" are FIFOs.
		if !e.Type().IsRegular() || strings.Contains(e.Name(), ".") {
			continue
		}
		b, err := fs.ReadFile(dir, e.Name())
		if err != nil {
			continue // the session ended between the listing and the read
		}
		if u, ok := parseLogindSession(b); ok {
			users = append(users, u)
		}
	}
	return users, nil
}

// parseLogindSession reads one logind session file: the session's user,
// and whether it is a login session.
func parseLogindSession(b []byte) (user string, ok bool) {
	var class, seat, tty string
	for line := range strings.Lines(string(b)) {
		key, val, found := strings.Cut(strings.TrimRight(line, "\r\n"), "=")
		if !found {
			continue
		}
		switch key {
		case "USER":
			user = val
		case "CLASS":
			class = val
		case "SEAT":
			seat = val
		case "TTY":
			tty = val
		}
	}
	return user, user != "" && strings.HasPrefix(class, "user") && (seat != "" || tty != "")
}
