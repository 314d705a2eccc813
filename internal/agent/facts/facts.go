// Package facts collects the host facts the agent reports to the server in
// its hello message and whenever they change: hostname, OS, architecture,
// kernel, boot time, IP addresses and logged-in users.
package facts

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Collect gathers facts about this machine. Every fact except the hostname
// is best effort: a source that fails (users are unsupported on Windows, for
// one) leaves its field empty and is logged at debug. The result always
// passes protocol.Facts.Validate.
//
// Each fact is read on its own, so one that fails does not hide the others.
func Collect(ctx context.Context, log *slog.Logger, agentVersion string) (protocol.Facts, error) {
	f := protocol.Facts{
		OS:           runtime.GOOS,
		Arch:         runtime.GOARCH,
		AgentVersion: agentVersion,
	}
	var err error
	if f.Hostname, err = os.Hostname(); err != nil {
		log.DebugContext(ctx, "facts: hostname", "err", err)
	}
	if f.OSName, f.OSVersion, err = Platform(ctx); err != nil {
		log.DebugContext(ctx, "facts: platform", "err", err)
	}
	if f.Kernel, err = KernelVersion(ctx); err != nil {
		log.DebugContext(ctx, "facts: kernel version", "err", err)
	}
	if f.BootTime, err = BootTime(ctx); err != nil {
		log.DebugContext(ctx, "facts: boot time", "err", err)
	}
	if f.IPAddresses, err = interfaceIPs(); err != nil {
		log.DebugContext(ctx, "facts: ip addresses", "err", err)
	}
	if f.Users, err = Users(ctx); err != nil {
		log.DebugContext(ctx, "facts: users", "err", err)
	}

	f = Sanitize(f)
	if f.Hostname == "" {
		return f, errors.New("collect facts: hostname unavailable")
	}
	return f, nil
}

// Sanitize bounds f to what protocol.Facts.Validate accepts: strings are
// cleaned of invalid UTF-8 and control characters and truncated, IPs that do
// not parse are dropped, lists are sorted, de-duplicated and capped, and a
// boot time in the future is cleared. Lists are never nil, so they encode as
// [] rather than null. It does not invent a hostname.
func Sanitize(f protocol.Facts) protocol.Facts {
	for _, s := range []*string{&f.Hostname, &f.OS, &f.OSName, &f.OSVersion, &f.Arch, &f.Kernel, &f.AgentVersion} {
		*s = cleanText(*s)
	}
	ips := make([]string, 0, len(f.IPAddresses))
	for _, s := range f.IPAddresses {
		if a, err := netip.ParseAddr(s); err == nil {
			ips = append(ips, a.Unmap().String())
		}
	}
	f.IPAddresses = capList(ips, protocol.MaxIPs)
	users := make([]string, 0, len(f.Users))
	for _, u := range f.Users {
		if u = cleanText(u); u != "" {
			users = append(users, u)
		}
	}
	f.Users = capList(users, protocol.MaxUsers)
	if f.BootTime.After(time.Now().Add(time.Hour)) {
		f.BootTime = time.Time{}
	}
	return f
}

// Equal reports whether two fact sets are the same, so the agent sends a
// facts message only on change.
func Equal(a, b protocol.Facts) bool {
	return a.Hostname == b.Hostname && a.OS == b.OS && a.OSName == b.OSName &&
		a.OSVersion == b.OSVersion && a.Arch == b.Arch && a.Kernel == b.Kernel &&
		a.AgentVersion == b.AgentVersion && a.BootTime.Equal(b.BootTime) &&
		slices.Equal(a.IPAddresses, b.IPAddresses) && slices.Equal(a.Users, b.Users) &&
		slices.Equal(a.Trays, b.Trays) && samePower(a.PowerPending, b.PowerPending)
}

func samePower(a, b *protocol.PowerState) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Action == b.Action && a.At.Equal(b.At) && a.Message == b.Message && a.By == b.By
}

// interfaceIPs lists the unicast addresses of the interfaces that are up.
func interfaceIPs() ([]string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var addrs []net.Addr
	var errs []error
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		a, err := ifc.Addrs()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		addrs = append(addrs, a...)
	}
	return unicastIPs(addrs), errors.Join(errs...)
}

// unicastIPs keeps global unicast addresses (including private ranges),
// dropping loopback, link-local, multicast and unspecified ones: link-local
// addresses exist on every interface and say nothing about the machine.
func unicastIPs(addrs []net.Addr) []string {
	var out []string
	for _, a := range addrs {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		}
		addr, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		addr = addr.Unmap()
		if addr.IsGlobalUnicast() {
			out = append(out, addr.String())
		}
	}
	return out
}

// cleanText makes s valid UTF-8 without control characters, trims spaces and
// truncates it to protocol.MaxFieldLen bytes on a rune boundary.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > protocol.MaxFieldLen {
		cut := protocol.MaxFieldLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = strings.TrimSpace(s[:cut])
	}
	return s
}

// capList sorts, de-duplicates and truncates a list.
func capList(l []string, limit int) []string {
	slices.Sort(l)
	l = slices.Compact(l)
	if len(l) > limit {
		l = l[:limit]
	}
	return l
}
