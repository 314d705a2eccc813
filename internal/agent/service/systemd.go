package service

import (
	"fmt"
	"strings"
)

// SystemdName is the systemd unit of role: steward-agent.service and
// steward-agent-watchdog.service. Packages (.deb, .rpm) ship units of the
// same names.
func SystemdName(r Role) string {
	if r == Watchdog {
		return "steward-agent-watchdog.service"
	}
	return "steward-agent.service"
}

// SystemdUnit is the unit file text of role. Install writes it to
// /etc/systemd/system; packages should ship exactly this text (for the
// packaged binary and the default config) so that install recognizes their
// units as its own and leaves them in place.
//
// Every option exists in systemd 239 (RHEL 8) or older. What is not set
// matters as much as what is; the reasons are in the comments below and in
// docs/agent-service.md.
func SystemdUnit(r Role, s Spec) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("# Written by steward-agent install; steward-agent uninstall removes it.")
	w("[Unit]")
	if r == Watchdog {
		w("Description=Steward RMM agent watchdog")
	} else {
		w("Description=Steward RMM agent")
	}
	w("Documentation=https://github.com/steward-rmm/steward")
	// The agent reconnects by itself, but starting after the network saves
	// a round of failed dials at boot.
	w("Wants=network-online.target")
	w("After=network-online.target")
	// Never stop restarting: a machine the agent gave up on is a machine
	// the technician cannot reach. (In [Unit] since systemd 230.)
	w("StartLimitIntervalSec=0")
	w("")
	w("[Service]")
	w("Type=simple")
	w("ExecStart=%s", systemdCommand(s.Binary, s.Args(r)))
	// run and watchdog exit non-zero whenever they want a restart, and 0
	// only when asked to stop; always also covers a kill -9.
	w("Restart=always")
	w("RestartSec=10")
	// SIGTERM to the main process first, so the agent can end its scripts
	// and sessions itself; what is left gets SIGKILL after the timeout.
	w("KillMode=mixed")
	w("TimeoutStopSec=30")
	// Remote sessions, scripts and the relay each hold descriptors.
	w("LimitNOFILE=65536")
	if r == Watchdog {
		// The watchdog only reads the config, asks systemd (over D-Bus) to
		// restart units, reads /proc and talks to the server: it can be
		// fenced in. It restarts the agent through systemd, never as its
		// own child, so the agent does not inherit any of this.
		w("NoNewPrivileges=yes")
		w("PrivateTmp=yes")
		w("ProtectHome=read-only")
		w("ProtectKernelTunables=yes")
		w("ProtectKernelModules=yes")
		w("ProtectControlGroups=yes")
		w("RestrictRealtime=yes")
		w("LockPersonality=yes")
	}
	// The agent itself gets no sandbox on purpose: it runs the
	// technician's scripts and terminals as root, which must be able to use
	// sudo and setuid tools (so no NoNewPrivileges), install packages and
	// edit /usr and /etc (so no ProtectSystem; the self-update also
	// replaces the binary), reach users' files and the real /tmp they share
	// with users (so no ProtectHome, no PrivateTmp), and load modules or set
	// sysctls when asked (so no ProtectKernel*).
	w("")
	w("[Install]")
	w("WantedBy=multi-user.target")
	return b.String()
}

// systemdCommand quotes a command line for ExecStart: each word in double
// quotes when it needs them, with backslashes doubled, % escaped as %%
// (systemd expands specifiers such as %h) and $ as $$ (it expands $VAR even
// inside quotes).
func systemdCommand(bin string, args []string) string {
	words := make([]string, 0, 1+len(args))
	for _, a := range append([]string{bin}, args...) {
		a = strings.ReplaceAll(a, `\`, `\\`)
		a = strings.ReplaceAll(a, "%", "%%")
		a = strings.ReplaceAll(a, "$", "$$")
		if a == "" || strings.ContainsAny(a, " \t'\";$`") {
			a = `"` + a + `"`
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

// ParseExecStart splits an ExecStart= value written by SystemdUnit back into
// its words, undoing the quoting. It is the inverse of systemdCommand, for
// tests and for checks of an installed unit.
func ParseExecStart(v string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && i+1 < len(v):
			i++
			cur.WriteByte(v[i])
			inWord = true
		case (c == '%' || c == '$') && i+1 < len(v) && v[i+1] == c:
			i++
			cur.WriteByte(c)
			inWord = true
		case c == '"':
			quoted = !quoted
			inWord = true
		case (c == ' ' || c == '\t') && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("parse ExecStart %q: unterminated quote", v)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
