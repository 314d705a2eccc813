package main

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// wxsDoc is the part of the WiX source the tests read back.
type wxsDoc struct {
	Product struct {
		ID          string `xml:"Id,attr"`
		Version     string `xml:"Version,attr"`
		UpgradeCode string `xml:"UpgradeCode,attr"`
		Package     struct {
			Scope       string `xml:"InstallScope,attr"`
			Description string `xml:"Description,attr"`
		} `xml:"Package"`
		MajorUpgrade *struct{} `xml:"MajorUpgrade"`
		Properties   []struct {
			ID    string `xml:"Id,attr"`
			Value string `xml:"Value,attr"`
		} `xml:"Property"`
		Component struct {
			GUID  string `xml:"Guid,attr"`
			Win64 string `xml:"Win64,attr"`
			File  struct {
				Name string `xml:"Name,attr"`
			} `xml:"File"`
		} `xml:"Directory>Directory>Directory>Component"`
		CustomActions []struct {
			ID          string `xml:"Id,attr"`
			Execute     string `xml:"Execute,attr"`
			Impersonate string `xml:"Impersonate,attr"`
			ExeCommand  string `xml:"ExeCommand,attr"`
			HideTarget  string `xml:"HideTarget,attr"`
		} `xml:"CustomAction"`
		Sequence []struct {
			Action    string `xml:"Action,attr"`
			Condition string `xml:",chardata"`
		} `xml:"InstallExecuteSequence>Custom"`
	} `xml:"Product"`
}

func TestRenderWXS(t *testing.T) {
	t.Parallel()
	d := wxsData{
		ProductCode: "11111111-2222-3333-4444-555555555555", UpgradeCode: "FD8A8FE3-CF85-4AB0-8411-8DDC5503ADCB",
		ComponentGUID: "DFD2E9C3-F71C-4527-854F-23CE4EA14655",
		// A tag is free text: it must not break the XML.
		Version: `v1.2.3-"<x>&'`, MSIVersion: "1.2.3", Arch: "x64",
	}
	out, err := renderWXS(d)
	if err != nil {
		t.Fatal(err)
	}
	var doc wxsDoc
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("rendered WiX source is not XML: %v\n%s", err, out)
	}
	p := doc.Product
	if p.ID != d.ProductCode || p.UpgradeCode != d.UpgradeCode || p.Version != "1.2.3" {
		t.Errorf("Product Id %q UpgradeCode %q Version %q, want %q %q 1.2.3", p.ID, p.UpgradeCode, p.Version, d.ProductCode, d.UpgradeCode)
	}
	if want := `Steward Agent v1.2.3-"<x>&' (x64)`; p.Package.Description != want {
		t.Errorf("Package Description %q, want %q", p.Package.Description, want)
	}
	if p.Package.Scope != "perMachine" || p.MajorUpgrade == nil {
		t.Errorf("InstallScope %q, MajorUpgrade %v: want perMachine with a MajorUpgrade", p.Package.Scope, p.MajorUpgrade != nil)
	}
	if p.Component.GUID != d.ComponentGUID || p.Component.Win64 != "yes" || p.Component.File.Name != "steward-agent.exe" {
		t.Errorf("component %+v", p.Component)
	}
	props := map[string]string{}
	for _, pr := range p.Properties {
		props[pr.ID] = pr.Value
	}
	for _, id := range []string{"SERVER", "TOKEN", "INSTALLFLAGS"} {
		if _, ok := props[id]; !ok {
			t.Errorf("no property %s", id)
		}
	}
	if props["ARPSYSTEMCOMPONENT"] != "1" {
		t.Errorf("ARPSYSTEMCOMPONENT = %q, want 1: the agent's own Apps & features entry is the one shown", props["ARPSYSTEMCOMPONENT"])
	}
	if !strings.Contains(";"+props["MsiHiddenProperties"]+";", ";TOKEN;") {
		t.Errorf("MsiHiddenProperties %q does not hide TOKEN", props["MsiHiddenProperties"])
	}
	cas := map[string]int{}
	for i, ca := range p.CustomActions {
		cas[ca.ID] = i
	}
	for id, cmd := range map[string]string{
		"AgentInstall":         `install --server "[SERVER]" --token "[TOKEN]" [INSTALLFLAGS]`,
		"AgentUninstall":       "uninstall --from-msi [UNINSTALLFLAGS]",
		"AgentInstallRollback": "uninstall --from-msi",
		"AgentRepair":          "install [INSTALLFLAGS]",
	} {
		i, ok := cas[id]
		if !ok {
			t.Errorf("no custom action %s", id)
			continue
		}
		ca := p.CustomActions[i]
		mode := "deferred"
		if id == "AgentInstallRollback" {
			mode = "rollback"
		}
		if ca.ExeCommand != cmd || ca.Execute != mode || ca.Impersonate != "no" {
			t.Errorf("custom action %s: %+v, want %q %s without impersonation", id, ca, cmd, mode)
		}
	}
	if ca := p.CustomActions[cas["AgentInstall"]]; ca.HideTarget != "yes" {
		t.Errorf("AgentInstall does not hide its target (the token): %+v", ca)
	}
	conds := map[string]string{}
	for _, s := range p.Sequence {
		conds[s.Action] = strings.TrimSpace(s.Condition)
	}
	for action, want := range map[string]string{
		// Whenever a token is given: install keeps an existing
		// enrollment, so the same MSI again, a repair and an upgrade all
		// re-register what is missing.
		"AgentInstall": `NOT REMOVE~="ALL" AND SERVER AND TOKEN`,
		// Undoes only an agent this MSI installed.
		"AgentInstallRollback": `NOT REMOVE~="ALL" AND SERVER AND TOKEN AND NOT AGENTINSTALLED`,
		"AgentUninstall":       `REMOVE~="ALL" AND NOT UPGRADINGPRODUCTCODE`,
		"StartAgent":           `NOT REMOVE~="ALL"`,
		// Without a token where the agent is installed: install keeps the
		// enrollment and registers the missing services (a repair).
		"AgentRepair": `NOT REMOVE~="ALL" AND AGENTINSTALLED AND NOT TOKEN`,
	} {
		if conds[action] != want {
			t.Errorf("%s runs when %q, want %q", action, conds[action], want)
		}
	}
}

// needTools skips a test when a build tool is missing (.ci/run installs
// msitools, wixl and osslsigncode).
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian: apt-get install msitools wixl osslsigncode rpm)", tool)
		}
	}
}

// msiTable is one table of an MSI as msiinfo exports it: rows of columns,
// after the three header lines.
func msiTable(t *testing.T, msi, table string) [][]string {
	t.Helper()
	out, err := exec.Command("msiinfo", "export", msi, table).Output()
	if err != nil {
		t.Fatalf("msiinfo export %s %s: %v", msi, table, err)
	}
	var rows [][]string
	for i, line := range strings.Split(strings.TrimRight(string(out), "\r\n"), "\n") {
		if i >= 3 {
			rows = append(rows, strings.Split(strings.TrimRight(line, "\r"), "\t"))
		}
	}
	return rows
}

// rowWith returns the first row whose column col is key.
func rowWith(rows [][]string, col int, key string) []string {
	for _, r := range rows {
		if len(r) > col && r[col] == key {
			return r
		}
	}
	return nil
}

func TestBuildMSI(t *testing.T) {
	t.Parallel()
	needTools(t, "wixl", "msibuild", "msiinfo")
	dir := t.TempDir()
	exe := filepath.Join(dir, "steward-agent.exe")
	if err := os.WriteFile(exe, []byte("not really a PE file"), 0o755); err != nil {
		t.Fatal(err)
	}
	v, err := parseVersion("v1.2.3-4-gabcdef0")
	if err != nil {
		t.Fatal(err)
	}
	build := func(arch, out string) string {
		t.Helper()
		msi := filepath.Join(dir, out)
		if err := buildMSI(t.Context(), msiOptions{Exe: exe, Arch: arch, Out: msi, Version: v}); err != nil {
			t.Fatalf("buildMSI %s: %v", arch, err)
		}
		return msi
	}
	x64 := build("x64", "x64.msi")

	props := msiTable(t, x64, "Property")
	prop := func(msi, name string) string {
		if r := rowWith(msiTable(t, msi, "Property"), 0, name); r != nil {
			return r[1]
		}
		return ""
	}
	if got := prop(x64, "ProductVersion"); got != "1.2.3" {
		t.Errorf("ProductVersion %q, want 1.2.3", got)
	}
	if got, want := prop(x64, "UpgradeCode"), "{"+strings.ToUpper(upgradeCode.String())+"}"; !strings.EqualFold(got, want) {
		t.Errorf("UpgradeCode %q, want %q", got, want)
	}
	if got := prop(x64, "ALLUSERS"); got != "1" {
		t.Errorf("ALLUSERS %q, want 1 (per machine)", got)
	}
	if got := prop(x64, "MsiHiddenProperties"); !strings.Contains(got, "TOKEN") {
		t.Errorf("MsiHiddenProperties %q does not hide TOKEN", got)
	}
	secure := ";" + prop(x64, "SecureCustomProperties") + ";"
	for _, p := range []string{"SERVER", "TOKEN", "INSTALLFLAGS", "UNINSTALLFLAGS", "AGENTINSTALLED", "WIX_UPGRADE_DETECTED"} {
		if !strings.Contains(secure, ";"+p+";") {
			t.Errorf("SecureCustomProperties %q lacks %s", secure, p)
		}
	}
	if len(props) == 0 {
		t.Fatal("no Property table")
	}

	cas := msiTable(t, x64, "CustomAction")
	for _, tc := range []struct {
		action, typ, source, target string
	}{
		// 18 (exe from an installed file) + 0x400 deferred + 0x800 no
		// impersonation + 0x2000 hidden target.
		{"AgentInstall", "11282", "AgentExe", `install --server "[SERVER]" --token "[TOKEN]" [INSTALLFLAGS]`},
		// ... + 0x40 (continue on error): a failed uninstall must not
		// keep the product from being removed.
		{"AgentUninstall", "3154", "AgentExe", "uninstall --from-msi [UNINSTALLFLAGS]"},
		// 18 + 0x40 + 0x100 rollback + 0x400 + 0x800: runs only when the
		// install fails after AgentInstall was scheduled.
		{"AgentInstallRollback", "3410", "AgentExe", "uninstall --from-msi"},
		// 18 + 0x40 + 0x400 + 0x800, no hidden target: no token in it.
		{"AgentRepair", "3154", "AgentExe", "install [INSTALLFLAGS]"},
		{"StartAgent", "3186", "SCEXE", "start StewardAgent"},
		{"StartWatchdog", "3186", "SCEXE", "start StewardWatchdog"},
	} {
		r := rowWith(cas, 0, tc.action)
		if r == nil || r[1] != tc.typ || r[2] != tc.source || r[3] != tc.target {
			t.Errorf("CustomAction %s: %q, want type %s source %s target %q", tc.action, r, tc.typ, tc.source, tc.target)
		}
	}

	seq := msiTable(t, x64, "InstallExecuteSequence")
	at := func(action string) (cond string, n int) {
		r := rowWith(seq, 0, action)
		if r == nil {
			t.Fatalf("%s is not in InstallExecuteSequence", action)
		}
		var num int
		for _, c := range r[2] {
			num = num*10 + int(c-'0')
		}
		return r[1], num
	}
	_, validate := at("InstallValidate")
	_, rep := at("RemoveExistingProducts")
	_, stop := at("StopServices")
	_, files := at("InstallFiles")
	_, removeFiles := at("RemoveFiles")
	uCond, uninstall := at("AgentUninstall")
	iCond, install := at("AgentInstall")
	rCond, rollback := at("AgentInstallRollback")
	_, setSc := at("SetScExe")
	_, repair := at("AgentRepair")
	_, startAgent := at("StartAgent")
	if rep != validate+1 {
		t.Errorf("RemoveExistingProducts at %d, want right after InstallValidate (%d)", rep, validate)
	}
	if !(uninstall < stop && stop < removeFiles) {
		t.Errorf("AgentUninstall %d, StopServices %d, RemoveFiles %d: the uninstall must run before the services are stopped and the files removed", uninstall, stop, removeFiles)
	}
	if !(files < rollback && rollback < install && install < repair && repair < startAgent) || setSc > files {
		t.Errorf("InstallFiles %d, AgentInstall %d, StartAgent %d, SetScExe %d: out of order", files, install, startAgent, setSc)
	}
	if uCond != `REMOVE~="ALL" AND NOT UPGRADINGPRODUCTCODE` || iCond != `NOT REMOVE~="ALL" AND SERVER AND TOKEN` ||
		rCond != `NOT REMOVE~="ALL" AND SERVER AND TOKEN AND NOT AGENTINSTALLED` {
		t.Errorf("conditions: uninstall %q, install %q, rollback %q", uCond, iCond, rCond)
	}
	// AGENTINSTALLED is the agent's own uninstall entry, read before
	// anything changes: 64-bit view (16) raw value (2) under HKLM (2).
	if r := rowWith(msiTable(t, x64, "AppSearch"), 0, "AGENTINSTALLED"); r == nil {
		t.Error("AGENTINSTALLED is not searched for")
	} else if loc := rowWith(msiTable(t, x64, "RegLocator"), 0, r[1]); loc == nil ||
		loc[1] != "2" || loc[2] != `SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\StewardAgent` || loc[4] != "18" {
		t.Errorf("RegLocator of AGENTINSTALLED: %q", loc)
	}

	up := rowWith(msiTable(t, x64, "Upgrade"), 6, "WIX_UPGRADE_DETECTED")
	if up == nil || up[2] != "1.2.3" || up[4] != "513" {
		t.Errorf("Upgrade row %q: want versions up to 1.2.3 inclusive (513)", up)
	}
	if r := rowWith(msiTable(t, x64, "LaunchCondition"), 0, `REMOVE~="ALL" OR AGENTINSTALLED OR (SERVER AND TOKEN)`); r == nil {
		t.Error("no launch condition requiring SERVER and TOKEN where no agent is installed")
	}
	sc := msiTable(t, x64, "ServiceControl")
	for _, name := range []string{"StewardAgent", "StewardWatchdog"} {
		// 0x2 stop on install + 0x20 stop on uninstall; never deleted by
		// the MSI (that is `steward-agent uninstall`'s job, and a major
		// upgrade must keep the services).
		if r := rowWith(sc, 1, name); r == nil || r[2] != "34" {
			t.Errorf("ServiceControl %s: %q, want event 34 (stop on install and uninstall)", name, r)
		}
	}

	sumInfo := func(msi string) string {
		out, err := exec.Command("msiinfo", "suminfo", msi).Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	if s := sumInfo(x64); !strings.Contains(s, "Template: x64;1033") {
		t.Errorf("x64 summary information:\n%s", s)
	}
	arm := build("arm64", "arm64.msi")
	if s := sumInfo(arm); !strings.Contains(s, "Template: Arm64;1033") || !strings.Contains(s, "Steward Agent v1.2.3-4-gabcdef0 (arm64)") {
		t.Errorf("arm64 summary information:\n%s", s)
	}

	// The ProductCode changes with the build's inputs and only with them.
	again := build("x64", "again.msi")
	if a, b := prop(x64, "ProductCode"), prop(again, "ProductCode"); a != b || a == "" {
		t.Errorf("ProductCode %q then %q for the same inputs", a, b)
	}
	if a, b := prop(x64, "ProductCode"), prop(arm, "ProductCode"); a == b {
		t.Errorf("x64 and arm64 share the ProductCode %s", a)
	}
	if err := os.WriteFile(exe, []byte("another build"), 0o755); err != nil {
		t.Fatal(err)
	}
	if a, b := prop(x64, "ProductCode"), prop(build("x64", "new.msi"), "ProductCode"); a == b {
		t.Errorf("a new binary kept the ProductCode %s", a)
	}
	// Nothing but the outputs is left beside them.
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "again.msi arm64.msi new.msi steward-agent.exe x64.msi" {
		t.Errorf("files in the output directory: %s", got)
	}
}

func TestBuildMSIRejects(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	for _, args := range [][]string{
		{"msi", "--exe", "x.exe", "--arch", "ia64", "--version", "v1.0.0", "--out", filepath.Join(t.TempDir(), "x.msi")},
		{"msi", "--exe", "x.exe", "--arch", "x64", "--out", "x.msi"},
		{"msi", "--arch", "x64", "--version", "v1.0.0"},
		{"msi", "--exe", "x.exe", "--arch", "x64", "--version", "v1.0.0", "--out", "x.msi", "--sign-cert", "c.pem"},
	} {
		if code := run(t.Context(), args, &bytes.Buffer{}, &stderr, func(string) string { return "" }); code != 2 {
			t.Errorf("run %q exited %d, want 2 (usage); stderr %s", args, code, stderr.String())
		}
	}
}
