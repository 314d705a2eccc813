package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager

	"github.com/steward-rmm/steward/packaging"
)

// unitDir is where each format's packages put systemd units.
var unitDir = map[string]string{"deb": "/lib/systemd/system", "rpm": "/usr/lib/systemd/system"}

// linuxUnits are the systemd units the packages carry, the same text
// `steward-agent install` writes.
var linuxUnits = []string{"steward-agent.service", "steward-agent-watchdog.service"}

// linuxOptions is what one .deb or .rpm is built from.
type linuxOptions struct {
	Format, Bin, Arch, Out string
	Version                versions
}

func runLinux(format string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(format, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := linuxOptions{Format: format}
	fs.StringVar(&o.Bin, "bin", "", "linux steward-agent binary to package (required)")
	fs.StringVar(&o.Arch, "arch", "", "amd64 or arm64 (required)")
	fs.StringVar(&o.Out, "out", "", "package file to write (required)")
	version := fs.String("version", "", "build version, e.g. v1.4.0 (required)")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if o.Bin == "" || o.Out == "" {
		return usageError("--bin and --out are required")
	}
	v, err := parseVersion(*version)
	if err != nil {
		return err
	}
	o.Version = v
	if err := buildLinux(o); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "built %s\n", o.Out)
	return nil
}

// buildLinux builds a .deb or .rpm with nfpm: the binary in /usr/bin, the
// two units, and scripts that do not enroll (a package holds no token).
func buildLinux(o linuxOptions) error {
	dir, ok := unitDir[o.Format]
	if !ok {
		return usageError(fmt.Sprintf("format %q: want deb or rpm", o.Format))
	}
	if o.Arch != "amd64" && o.Arch != "arm64" {
		return usageError(fmt.Sprintf("--arch %q: want amd64 or arm64", o.Arch))
	}
	st, err := os.Stat(o.Bin)
	if err != nil {
		return fmt.Errorf("build %s: %w", o.Format, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(o.Out), "."+o.Format+"-*")
	if err != nil {
		return fmt.Errorf("build %s: %w", o.Format, err)
	}
	defer os.RemoveAll(tmp)
	// nfpm reads scripts and files by path: write the embedded ones out.
	extract := func(name string, mode os.FileMode) (string, error) {
		b, err := packaging.Files.ReadFile("linux/" + name)
		if err != nil {
			return "", fmt.Errorf("build %s: %w", o.Format, err)
		}
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			return "", fmt.Errorf("build %s: %w", o.Format, err)
		}
		return p, nil
	}
	mtime := st.ModTime().UTC() // the same inputs give the same package
	contents := files.Contents{{
		Source: o.Bin, Destination: "/usr/bin/steward-agent",
		FileInfo: &files.ContentFileInfo{Mode: 0o755, MTime: mtime},
	}}
	for _, u := range linuxUnits {
		p, err := extract(u, 0o644)
		if err != nil {
			return err
		}
		contents = append(contents, &files.Content{
			Source: p, Destination: dir + "/" + u,
			FileInfo: &files.ContentFileInfo{Mode: 0o644, MTime: mtime},
		})
	}
	var scripts nfpm.Scripts
	for _, s := range []struct {
		name string
		dst  *string
	}{{"postinstall.sh", &scripts.PostInstall}, {"preremove.sh", &scripts.PreRemove}, {"postremove.sh", &scripts.PostRemove}} {
		p, err := extract(s.name, 0o755)
		if err != nil {
			return err
		}
		*s.dst = p
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:          "steward-agent",
		Arch:          o.Arch,
		Platform:      "linux",
		Version:       o.Version.Pkg,
		VersionSchema: "none", // parseVersion already made it sort right
		Section:       "admin",
		Priority:      "optional",
		Maintainer:    "Steward <steward@localhost>",
		Vendor:        "Steward",
		Homepage:      "https://github.com/steward-rmm/steward",
		Description: "Steward RMM agent\n" +
			"Runs as a system service with a watchdog. Enroll the machine after\n" +
			"installing with: steward-agent install --server URL --token TOKEN",
		MTime: mtime,
		Overridables: nfpm.Overridables{
			Contents: contents,
			Scripts:  scripts,
			RPM:      nfpm.RPM{Summary: "Steward RMM agent", Group: "System Environment/Daemons"},
		},
	})
	if err := nfpm.PrepareForPackager(info, o.Format); err != nil {
		return fmt.Errorf("build %s: %w", o.Format, err)
	}
	pkgr, err := nfpm.Get(o.Format)
	if err != nil {
		return fmt.Errorf("build %s: %w", o.Format, err)
	}
	f, err := os.CreateTemp(tmp, "pkg-*")
	if err != nil {
		return fmt.Errorf("build %s: %w", o.Format, err)
	}
	err = pkgr.Package(info, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("build %s: %w", o.Format, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("build %s: %w", o.Format, err)
	}
	if err := os.Rename(f.Name(), o.Out); err != nil {
		return fmt.Errorf("build %s: %w", o.Format, err)
	}
	return nil
}
