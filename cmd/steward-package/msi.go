package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/google/uuid"

	"github.com/steward-rmm/steward/internal/agent/service"
	"github.com/steward-rmm/steward/packaging"
)

// upgradeCode identifies "Steward Agent" across every version and
// architecture: MajorUpgrade finds the installed version by it, and the
// agent its MSI for the Apps & features entry. Never change it.
var upgradeCode = uuid.MustParse(strings.Trim(service.MSIUpgradeCode, "{}"))

// msiArch is what differs between the x64 and the arm64 MSI. The
// component GUID is fixed per architecture: it names the installed file
// for Windows Installer's reference counting, which must stay the same
// from one version to the next.
type msiArch struct {
	Template  string // summary information platform
	Component uuid.UUID
}

var msiArches = map[string]msiArch{
	"x64":   {Template: "x64;1033", Component: uuid.MustParse("dfd2e9c3-f71c-4527-854f-23ce4ea14655")},
	"arm64": {Template: "Arm64;1033", Component: uuid.MustParse("a85b3621-a1ad-4183-a59f-ced96858eff1")},
}

// wxsData fills packaging/windows/steward-agent.wxs.
type wxsData struct {
	ProductCode, UpgradeCode, ComponentGUID string
	Version                                 string // full build version, for the description
	MSIVersion                              string
	Arch                                    string
}

// renderWXS renders the MSI's WiX source. Every value is escaped for an
// XML attribute, so a tag name cannot break the document.
func renderWXS(d wxsData) ([]byte, error) {
	src, err := packaging.Files.ReadFile("windows/steward-agent.wxs")
	if err != nil {
		return nil, fmt.Errorf("read the MSI template: %w", err)
	}
	esc := func(s string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
		return strings.ReplaceAll(b.String(), `"`, "&#34;")
	}
	tmpl, err := template.New("wxs").Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("parse the MSI template: %w", err)
	}
	d = wxsData{
		ProductCode: esc(d.ProductCode), UpgradeCode: esc(d.UpgradeCode), ComponentGUID: esc(d.ComponentGUID),
		Version: esc(d.Version), MSIVersion: esc(d.MSIVersion), Arch: esc(d.Arch),
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, d); err != nil {
		return nil, fmt.Errorf("render the MSI template: %w", err)
	}
	return out.Bytes(), nil
}

// msiFixups are the SQL statements msibuild runs on what wixl 0.101
// built, for what its WiX dialect cannot say (measured: it ignores
// HideTarget, Secure, AllowSameVersionUpgrades, MajorUpgrade's
// Schedule, Execute="rollback"). Each is one statement: msibuild runs one -q per call.
func msiFixups(msiVersion string) []string {
	uc := "{" + strings.ToUpper(upgradeCode.String()) + "}"
	return []string{
		// The install command line holds the token: hide it from the log
		// (msidbCustomActionTypeHideTarget, 0x2000, on a deferred (0x400)
		// no-impersonate (0x800) exe-from-installed-file (18) action).
		"UPDATE CustomAction SET Type=11282 WHERE Action='AgentInstall'",
		// wixl makes Execute="rollback" an immediate action, which would
		// run the uninstall during script generation of every install: a
		// rollback (0x100 with 0x400) no-impersonate (0x800) exe from an
		// installed file (18) that ignores its exit code (0x40).
		"UPDATE CustomAction SET Type=3410 WHERE Action='AgentInstallRollback'",
		// Public properties a managed or elevated install passes from the
		// client to the server side.
		"UPDATE Property SET Value='WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED;SERVER;TOKEN;INSTALLFLAGS;UNINSTALLFLAGS;AGENTINSTALLED' WHERE Property='SecureCustomProperties'",
		// Remove the old version before anything of the new one is
		// installed (WiX's afterInstallValidate): wixl schedules it after
		// InstallFiles, where the old version's removal would stop the
		// services the new one has just started.
		"UPDATE InstallExecuteSequence SET Sequence=1401 WHERE Action='RemoveExistingProducts'",
		// SCEXE (the path of sc.exe) is set during costing, where
		// System64Folder is known, before the deferred actions are written.
		"UPDATE InstallExecuteSequence SET Sequence=1001 WHERE Action='SetScExe'",
		// The same version again replaces the installed one (a rebuilt
		// development version): VersionMax inclusive (0x200) with
		// MigrateFeatures (1). Attributes is in the key: delete and insert.
		"DELETE FROM Upgrade WHERE ActionProperty='WIX_UPGRADE_DETECTED'",
		"INSERT INTO Upgrade (UpgradeCode, VersionMax, Attributes, ActionProperty) VALUES ('" + uc + "', '" + msiVersion + "', 513, 'WIX_UPGRADE_DETECTED')",
	}
}

// msiOptions is what one MSI is built from.
type msiOptions struct {
	Exe, Arch, Out string
	Version        versions
	Sign           signer
}

func runMSI(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("msi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o msiOptions
	fs.StringVar(&o.Exe, "exe", "", "steward-agent.exe to package (required)")
	fs.StringVar(&o.Arch, "arch", "", "x64 or arm64 (required)")
	fs.StringVar(&o.Out, "out", "", "MSI file to write (required)")
	version := fs.String("version", "", "build version, e.g. v1.4.0 (required)")
	o.Sign.addFlags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if o.Exe == "" || o.Out == "" {
		return usageError("--exe and --out are required")
	}
	v, err := parseVersion(*version)
	if err != nil {
		return err
	}
	o.Version = v
	if err := buildMSI(ctx, o); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "built %s\n", o.Out)
	return nil
}

// buildMSI signs the binary (when configured), renders the WiX source,
// runs wixl and msibuild, signs the MSI, and moves it to o.Out only when
// every step worked.
func buildMSI(ctx context.Context, o msiOptions) error {
	arch, ok := msiArches[o.Arch]
	if !ok {
		return usageError(fmt.Sprintf("--arch %q: want x64 or arm64", o.Arch))
	}
	signing, err := o.Sign.enabled()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(o.Out), ".msi-*")
	if err != nil {
		return fmt.Errorf("build msi: %w", err)
	}
	defer os.RemoveAll(tmp)

	// wixl wants the file's path relative to where it runs: the binary
	// goes into the work directory (signed, or as is).
	exe := filepath.Join(tmp, "steward-agent.exe")
	if signing {
		err = o.Sign.sign(ctx, o.Exe, exe)
	} else {
		err = copyFile(o.Exe, exe)
	}
	if err != nil {
		return err
	}
	sum, err := fileSHA256(exe)
	if err != nil {
		return err
	}
	// A new ProductCode for every different build (MajorUpgrade needs
	// one), the same one for the same inputs, so a rebuild is reproducible.
	product := uuid.NewSHA1(upgradeCode, []byte(o.Arch+"\x00"+o.Version.Full+"\x00"+sum))
	wxs, err := renderWXS(wxsData{
		ProductCode:   strings.ToUpper(product.String()),
		UpgradeCode:   strings.ToUpper(upgradeCode.String()),
		ComponentGUID: strings.ToUpper(arch.Component.String()),
		Version:       o.Version.Full, MSIVersion: o.Version.MSI, Arch: o.Arch,
	})
	if err != nil {
		return err
	}
	wxsPath := filepath.Join(tmp, "steward-agent.wxs")
	if err := os.WriteFile(wxsPath, wxs, 0o644); err != nil {
		return fmt.Errorf("build msi: %w", err)
	}
	built := filepath.Join(tmp, "steward-agent.msi")
	// wixl knows x86 and x64 only; the arm64 MSI is the x64 build with the
	// Arm64 platform in its summary information (set below).
	if err := commandIn(ctx, tmp, "wixl", "-a", "x64", "-D", "AgentExe=steward-agent.exe", "-o", "steward-agent.msi", "steward-agent.wxs"); err != nil {
		return err
	}
	for _, q := range msiFixups(o.Version.MSI) {
		if err := command(ctx, "msibuild", built, "-q", q); err != nil {
			return err
		}
	}
	if err := setPlatform(ctx, built, arch.Template, "Steward Agent "+o.Version.Full+" ("+o.Arch+")"); err != nil {
		return err
	}
	if signing {
		signed := filepath.Join(tmp, "signed.msi")
		if err := o.Sign.sign(ctx, built, signed); err != nil {
			return err
		}
		built = signed
	}
	if err := os.Rename(built, o.Out); err != nil {
		return fmt.Errorf("build msi: %w", err)
	}
	return nil
}

var revisionRe = regexp.MustCompile(`(?m)^Revision number \(UUID\): (\{[0-9A-Fa-f-]+\})\s*$`)

// setPlatform writes the summary information's platform (Template).
// msibuild -s sets subject, author, template and package code together,
// so the package code wixl chose is read back and kept.
func setPlatform(ctx context.Context, msi, platform, subject string) error {
	out, err := exec.CommandContext(ctx, "msiinfo", "suminfo", msi).Output()
	if err != nil {
		return fmt.Errorf("msiinfo suminfo %s: %w", msi, err)
	}
	m := revisionRe.FindSubmatch(out)
	if m == nil {
		return fmt.Errorf("msiinfo suminfo %s: no package code in %q", msi, out)
	}
	return command(ctx, "msibuild", msi, "-s", subject, "Steward", platform, string(m[1]))
}

// command runs a build tool, returning its output in the error when it fails.
func command(ctx context.Context, name string, args ...string) error {
	return commandIn(ctx, "", name, args...)
}

// commandIn runs a build tool in dir.
func commandIn(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("%s is not installed (Debian: apt-get install wixl msitools osslsigncode): %w", name, err)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(b)))
	}
	return nil
}

// copyFile copies src to a new file dst.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

// fileSHA256 is the hex SHA-256 of a file.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
