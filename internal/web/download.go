package web

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// agentOS are the operating systems agents are built for.
var agentOS = map[string]bool{"linux": true, "darwin": true, "windows": true}

// archAliases maps what install commands report (uname -m on Unix,
// PROCESSOR_ARCHITECTURE on Windows) to Go's GOARCH names.
var archAliases = map[string]string{
	"amd64": "amd64", "x86_64": "amd64", "x64": "amd64",
	"arm64": "arm64", "aarch64": "arm64",
}

// download serves GET /download/agent/{os}/{arch}, the agent binary, and
// /download/agent/{os}/{arch}.{msi,deb,rpm}, its installer. It needs no
// login: the files hold no secret, and enrollment needs a token anyway.
// File names are built only from the fixed tables above, never from the
// request, so no path can escape AgentDir.
func (h *Handler) download(w http.ResponseWriter, r *http.Request) error {
	goos := strings.ToLower(r.PathValue("os"))
	archName, kind, _ := strings.Cut(strings.ToLower(r.PathValue("arch")), ".")
	arch, ok := archAliases[archName]
	if !agentOS[goos] || !ok {
		http.Error(w, fmt.Sprintf("no agent build for %q/%q: the operating system must be linux, darwin or windows "+
			"and the architecture amd64 (x86_64) or arm64 (aarch64)", r.PathValue("os"), r.PathValue("arch")),
			http.StatusBadRequest)
		return nil
	}
	what, build := "agent binary", "`make agents`"
	if kind != "" {
		if !slices.Contains(packageKinds[goos], kind) {
			http.Error(w, fmt.Sprintf("no %q package for %s: the installers are .msi for windows, .deb and .rpm for linux", kind, goos),
				http.StatusBadRequest)
			return nil
		}
		what, build = "agent package", "`make packages`"
	}
	name := agentFileName(goos, arch, kind)
	missing := func() error {
		// The directory is in the server log, not in the answer: the
		// download needs no login.
		h.log.Warn("agent download missing", "file", filepath.Join(h.cfg.AgentDir, name))
		http.Error(w, fmt.Sprintf("%s %s is not on this server; "+
			"its administrator builds it with %s", what, name, build), http.StatusNotFound)
		return nil
	}
	if h.cfg.AgentDir == "" {
		return missing()
	}
	f, err := os.Open(filepath.Join(h.cfg.AgentDir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return missing()
	}
	if err != nil {
		return fmt.Errorf("open agent binary: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat agent binary: %w", err)
	}
	if !st.Mode().IsRegular() {
		return missing()
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	// `make agents` replaces the files in place; always revalidate.
	hd.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, st.ModTime(), f)
	return nil
}
