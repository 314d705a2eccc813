package web

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// packageKinds are the installers offered per operating system, beside the
// bare binary, as built by `make packages`.
var packageKinds = map[string][]string{"windows": {"msi"}, "linux": {"deb", "rpm"}}

// agentArches are the architectures agents are built for, with the name
// each OS's installer uses for them.
var agentArches = []struct{ goarch, label string }{{"amd64", "x64"}, {"arm64", "arm64"}}

// agentFileName is the download's name in AgentDir: steward-agent-OS-ARCH
// with .exe for the Windows binary, or the package's extension.
func agentFileName(goos, arch, kind string) string {
	name := "steward-agent-" + goos + "-" + arch
	switch {
	case kind != "":
		return name + "." + kind
	case goos == "windows":
		return name + ".exe"
	}
	return name
}

// sumsFile is the checksum list `make packages` writes into AgentDir.
const sumsFile = "SHA256SUMS"

// agentSums returns the SHA-256 (hex) of each of names found in dir. A
// name listed in dir/SHA256SUMS takes its hash from there unless the file
// is newer than the list (rebuilt since); the others are hashed here, so a
// server whose agents were built without `make packages` shows hashes too.
// A missing file has no entry.
func agentSums(dir string, names []string, log *slog.Logger) map[string]string {
	sums := map[string]string{}
	if dir == "" {
		return sums
	}
	listed := map[string]string{}
	var listTime int64
	if f, err := os.Open(filepath.Join(dir, sumsFile)); err == nil {
		if st, err := f.Stat(); err == nil {
			listTime = st.ModTime().UnixNano()
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// "<hex>  <name>" (sha256sum's text mode; "*" marks binary mode).
			sum, name, ok := strings.Cut(sc.Text(), " ")
			name = strings.TrimPrefix(strings.TrimPrefix(name, " "), "*")
			if ok && len(sum) == sha256.Size*2 {
				listed[name] = strings.ToLower(sum)
			}
		}
		f.Close()
	}
	for _, name := range names {
		p := filepath.Join(dir, name)
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if sum, ok := listed[name]; ok && st.ModTime().UnixNano() <= listTime {
			sums[name] = sum
			continue
		}
		sum, err := hashFile(p)
		if err != nil {
			log.Warn("hash agent download", "file", p, "err", err)
			continue
		}
		sums[name] = sum
	}
	return sums
}

// hashFile is the hex SHA-256 of a file.
func hashFile(path string) (string, error) {
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

// agentDownloadNames lists every file the install page offers.
func agentDownloadNames() []string {
	var names []string
	for _, goos := range []string{"linux", "windows", "darwin"} {
		for _, a := range agentArches {
			names = append(names, agentFileName(goos, a.goarch, ""))
			for _, kind := range packageKinds[goos] {
				names = append(names, agentFileName(goos, a.goarch, kind))
			}
		}
	}
	return names
}
