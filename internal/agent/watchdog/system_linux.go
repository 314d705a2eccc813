package watchdog

import "os"

// agentUnit is the agent's systemd unit (see the layout).
const agentUnit = "steward-agent.service"

// systemdBooted reports whether systemd runs this machine, as
// sd_booted(3) tells it.
func systemdBooted() bool {
	fi, err := os.Stat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// SystemServices returns the ServiceManager for the watched services:
// systemd units when systemd runs the machine, else processes by name.
func SystemServices() ServiceManager {
	if systemdBooted() {
		return systemd{systemctl: "systemctl"}
	}
	return processes{}
}

// SystemAgent returns the agent's service in the machine's service
// manager; ok is false without one, where the watchdog must supervise the
// agent itself.
func SystemAgent() (svc AgentService, ok bool) {
	if !systemdBooted() {
		return nil, false
	}
	return NewAgentService(systemd{systemctl: "systemctl"}, agentUnit), true
}
