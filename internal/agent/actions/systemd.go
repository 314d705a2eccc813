package actions

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/steward-rmm/steward/internal/protocol"
)

// otherUnitTypes are the unit suffixes that are not services.
var otherUnitTypes = []string{".socket", ".target", ".timer", ".mount", ".automount", ".path", ".slice", ".scope", ".swap", ".device"}

// systemdUnit is the service unit a requested name means: "nginx" is
// nginx.service. Names that systemctl would read as an option or as a
// unit of another type are refused.
func systemdUnit(name string) (string, error) {
	if strings.HasPrefix(name, "-") || strings.ContainsAny(name, " \t\n/\\") {
		return "", fmt.Errorf("%q is not a service unit name", name)
	}
	if i := strings.LastIndexByte(name, '.'); i >= 0 && slices.Contains(otherUnitTypes, name[i:]) {
		return "", fmt.Errorf("%q is not a service unit", name)
	}
	if !strings.HasSuffix(name, ".service") {
		name += ".service"
	}
	return name, nil
}

// systemdState maps a unit's ACTIVE state to a service state.
func systemdState(active string) string {
	switch active {
	case "active", "reloading", "refreshing":
		return protocol.ServiceRunning
	case "inactive", "dead":
		return protocol.ServiceStopped
	case "activating":
		return protocol.ServiceStarting
	case "deactivating":
		return protocol.ServiceStopping
	case "failed":
		return protocol.ServiceFailed
	}
	return protocol.ServiceUnknown
}

// systemdStartType maps a unit file state to a start type: enabled units
// start at boot, masked ones cannot start, the others start when asked
// (or pulled in by another unit).
func systemdStartType(state string) string {
	switch state {
	case "enabled", "enabled-runtime", "generated", "alias", "linked", "linked-runtime":
		return protocol.StartAuto
	case "masked", "masked-runtime", "bad":
		return protocol.StartDisabled
	case "":
		return ""
	}
	return protocol.StartManual
}

// parseSystemdUnits reads `systemctl list-units --type=service --all
// --plain --no-legend --no-pager --full`: UNIT LOAD ACTIVE SUB
// DESCRIPTION, one unit a line. Lines that do not look like one (a
// legend, a status bullet left in) are skipped.
func parseSystemdUnits(out []byte) []protocol.ServiceInfo {
	var list []protocol.ServiceInfo
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		// Without --plain a failed unit starts with a bullet.
		line = strings.TrimSpace(strings.TrimLeft(line, "●*× "))
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasSuffix(f[0], ".service") {
			continue
		}
		// The description is the rest of the line, its spaces kept.
		desc := line
		for range 4 {
			_, desc, _ = strings.Cut(strings.TrimLeft(desc, " \t"), " ")
		}
		desc = strings.TrimSpace(desc)
		s := protocol.ServiceInfo{Name: f[0], State: systemdState(f[2]), DisplayName: desc}
		if f[1] == "not-found" {
			s.State = protocol.ServiceUnknown
		}
		list = append(list, s)
	}
	return list
}

// parseSystemdUnitFiles reads `systemctl list-unit-files --type=service
// --plain --no-legend --no-pager --full`: UNIT STATE [PRESET].
func parseSystemdUnitFiles(out []byte) map[string]string {
	states := map[string]string{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.HasSuffix(f[0], ".service") {
			states[f[0]] = f[1]
		}
	}
	return states
}

// systemdShowProps are the properties `systemctl show` is asked for.
const systemdShowProps = "Id,Description,LoadState,ActiveState,SubState,UnitFileState,MainPID"

// parseSystemdShow reads `systemctl show -p systemdShowProps UNIT`:
// KEY=VALUE lines.
func parseSystemdShow(out []byte) (protocol.ServiceInfo, error) {
	props := map[string]string{}
	for line := range strings.Lines(string(out)) {
		if k, v, ok := strings.Cut(strings.TrimRight(line, "\r\n"), "="); ok {
			props[k] = v
		}
	}
	if props["Id"] == "" {
		return protocol.ServiceInfo{}, fmt.Errorf("systemctl show said nothing about the unit")
	}
	if props["LoadState"] == "not-found" {
		return protocol.ServiceInfo{}, fmt.Errorf("no service unit %s", props["Id"])
	}
	s := protocol.ServiceInfo{Name: props["Id"], DisplayName: props["Description"],
		State: systemdState(props["ActiveState"]), StartType: systemdStartType(props["UnitFileState"])}
	if pid, err := strconv.ParseInt(props["MainPID"], 10, 32); err == nil && pid > 0 {
		s.PID = int32(pid)
	}
	return s, nil
}

// mergeSystemd completes the loaded units with their unit file states, and
// adds the service units installed but not loaded (stopped); templates
// (name@.service) are not services one can start as they are.
func mergeSystemd(units []protocol.ServiceInfo, files map[string]string) []protocol.ServiceInfo {
	seen := make(map[string]bool, len(units))
	for i := range units {
		units[i].StartType = systemdStartType(files[units[i].Name])
		seen[units[i].Name] = true
	}
	for name, state := range files {
		if !seen[name] && !strings.HasSuffix(name, "@.service") {
			units = append(units, protocol.ServiceInfo{Name: name, State: protocol.ServiceStopped, StartType: systemdStartType(state)})
		}
	}
	return units
}
