package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/release"
	"github.com/steward-rmm/steward/internal/store"
)

const releaseBuildUsage = `Usage:
  steward release build --key KEY [--version V] [--channel C] [--notes TEXT] [--out DIR]
                        [--embed-key PUBFILE]... [--targets OS/ARCH,...]
                        [--server URL [--token-file F] | --data-dir DIR | --database-url URL]

Cross-builds the agent for every target with the version stamped in and
the trusted release keys embedded (the public key of --key and each
--embed-key), signs each binary, builds the MSI/deb/rpm installers,
writes SHA256SUMS, and publishes each binary with its signature: to a
server over its API (--server; the API token is read from --token-file or
STEWARD_TOKEN, never from the command line) or into the database
(--data-dir/--database-url, with --release-key or STEWARD_RELEASE_KEYS as
for publish). Run it inside the Steward source tree.

The version defaults to the tag git describe names, when HEAD is a clean
commit tagged with a semantic version. --targets (or STEWARD_RELEASE_TARGETS)
restricts the targets. One build at a time holds DIR/.release-build.lock;
the operating system drops it when the process ends, however it ends.
`

// agentTargets are the platforms a release is built for, as the
// Makefile's AGENT_TARGETS.
var agentTargets = []string{"linux/amd64", "linux/arm64", "windows/amd64", "windows/arm64", "darwin/amd64", "darwin/arm64"}

// modulePath is the module the build must run in.
const modulePath = "github.com/steward-rmm/steward"

// buildConfig is the parsed command line of release build.
type buildConfig struct {
	version, channel, notes string
	out                     string
	targets                 []string
	priv                    ed25519.PrivateKey
	embed                   []string // release public keys, text form
	publisher               releasePublisher
}

func releaseBuild(ctx context.Context, args []string, env Env, stdio IO) error {
	fs := newFlagSet("release build", stdio)
	fs.Usage = func() { fmt.Fprint(stdio.Stderr, releaseBuildUsage) }
	var (
		d                                 dbFlags
		keyPath, version, channel, notes  string
		out, server, tokenFile, targetArg string
		embedSpecs, trustSpecs            []string
	)
	d.register(fs, env)
	fs.StringVar(&keyPath, "key", "", "the private release `KEY` file (release.key)")
	fs.StringVar(&version, "version", "", "the semantic `VERSION` to build, e.g. 1.4.0; default: the git tag")
	fs.StringVar(&channel, "channel", manage.ChannelStable, "release `CHANNEL`: stable, beta or another name")
	fs.StringVar(&notes, "notes", "", "release notes `TEXT`")
	fs.StringVar(&out, "out", "", "output `DIR`; default dist/VERSION")
	fs.StringVar(&server, "server", "", "publish to the server at `URL` over its API")
	fs.StringVar(&tokenFile, "token-file", "", "`FILE` holding the API token (default: env STEWARD_TOKEN)")
	fs.StringVar(&targetArg, "targets", env("STEWARD_RELEASE_TARGETS"), "comma-separated `OS/ARCH` targets; default all six (env STEWARD_RELEASE_TARGETS)")
	fs.Func("embed-key", "also embed this release public `KEY` (text or file) in the agents",
		func(v string) error { embedSpecs = append(embedSpecs, v); return nil })
	fs.Func("release-key", "with --data-dir/--database-url: trust this release public `KEY`; default env STEWARD_RELEASE_KEYS",
		func(v string) error { trustSpecs = append(trustSpecs, v); return nil })
	if err := parse(fs, args); err != nil {
		return err
	}
	if keyPath == "" {
		fmt.Fprintln(stdio.Stderr, "release build: --key KEY is required (the private key from steward release keygen)")
		return errUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfg := buildConfig{channel: channel, notes: notes, out: out}
	var err error
	if cfg.priv, err = release.LoadPrivateKey(keyPath); err != nil {
		return err
	}
	own := protocol.NewReleaseKey(cfg.priv.Public().(ed25519.PublicKey))
	extra, err := release.LoadPublicKeys(embedSpecs)
	if err != nil {
		return fmt.Errorf("--embed-key: %w", err)
	}
	cfg.embed = []string{own.String()}
	for _, k := range extra {
		if k.ID != own.ID {
			cfg.embed = append(cfg.embed, k.String())
		}
	}
	if cfg.targets, err = parseTargets(targetArg); err != nil {
		return err
	}
	if err := manage.CheckChannel("channel", channel); err != nil {
		return fmt.Errorf("--channel: %w", err)
	}

	// Everything that can be wrong with publishing is checked before the
	// builds, which take minutes.
	// The database from the environment is used only without --server:
	// on the server's own machine STEWARD_DATA_DIR may well be set.
	dbFlagged := set["data-dir"] || set["database-url"]
	toDB := dbFlagged || env("STEWARD_DATA_DIR") != "" || env("STEWARD_DATABASE_URL") != ""
	switch {
	case server != "" && dbFlagged:
		fmt.Fprintln(stdio.Stderr, "release build: give --server or --data-dir/--database-url, not both")
		return errUsage
	case server != "":
		token, err := readToken(tokenFile, env)
		if err != nil {
			return err
		}
		p, err := newAPIPublisher(server, token)
		if err != nil {
			return err
		}
		// A wrong URL or token shows now, not after the builds.
		if _, err := p.existing(ctx, "0.0.0", "linux", "amd64"); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("--server: %w", err)
		}
		cfg.publisher = p
	case toDB:
		if len(trustSpecs) == 0 {
			trustSpecs = splitList(env("STEWARD_RELEASE_KEYS"))
		}
		trusted, err := release.LoadPublicKeys(trustSpecs)
		if err != nil {
			return fmt.Errorf("--release-key: %w", err)
		}
		if len(trusted) == 0 {
			return manage.ErrNoReleaseKeys
		}
		db, err := d.open(ctx, stdio.Stderr, false)
		if err != nil {
			return err
		}
		defer db.Close()
		cfg.publisher = &dbPublisher{db: db, svc: manage.New(db), trusted: trusted}
	}

	moduleDir, err := findModule(ctx)
	if err != nil {
		return err
	}
	if version != "" {
		cfg.version = strings.TrimPrefix(version, "v")
		if !protocol.ValidVersion(cfg.version) {
			return fmt.Errorf("--version %q is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE], e.g. 1.4.0)", version)
		}
	} else if cfg.version, err = release.DetectVersion(ctx, moduleDir); err != nil {
		return err
	}
	if cfg.out == "" {
		cfg.out = filepath.Join("dist", cfg.version)
	}
	if cfg.out, err = filepath.Abs(cfg.out); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return runBuild(ctx, cfg, moduleDir, stdio.Stdout)
}

// parseTargets checks a --targets list against the agent's targets.
func parseTargets(arg string) ([]string, error) {
	list := splitList(arg)
	if len(list) == 0 {
		return agentTargets, nil
	}
	for _, t := range list {
		known := false
		for _, a := range agentTargets {
			known = known || a == t
		}
		if !known {
			return nil, fmt.Errorf("--targets: unknown target %q (known: %s)", t, strings.Join(agentTargets, ", "))
		}
	}
	return list, nil
}

// readToken reads the API token from a file, else from STEWARD_TOKEN: a
// token on the command line would show in the process list.
func readToken(path string, env Env) (string, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read --token-file: %w", err)
		}
		if tok := strings.TrimSpace(string(b)); tok != "" {
			return tok, nil
		}
		return "", fmt.Errorf("--token-file %s is empty", path)
	}
	if tok := strings.TrimSpace(env("STEWARD_TOKEN")); tok != "" {
		return tok, nil
	}
	return "", errors.New("--server needs an API token: --token-file FILE or env STEWARD_TOKEN (steward user api-token makes one)")
}

// findModule returns the root of the Steward source tree the command runs
// in; the agent is built from it.
func findModule(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Path}} {{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("release build runs inside the Steward source tree with Go installed: go list -m: %w", err)
	}
	path, dir, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if path != modulePath {
		return "", fmt.Errorf("release build runs inside the Steward source tree: this is module %q, want %s", path, modulePath)
	}
	return dir, nil
}

// binaryName is the file name of the agent for a target, as the Makefile
// names it: steward-agent-linux-amd64, steward-agent-windows-arm64.exe.
func binaryName(target string) string {
	name := "steward-agent-" + strings.ReplaceAll(target, "/", "-")
	if strings.HasPrefix(target, "windows/") {
		name += ".exe"
	}
	return name
}

// step prints numbered progress lines and times each step.
type step struct {
	w     io.Writer
	n, of int
	start time.Time
}

func (s *step) begin(format string, args ...any) {
	s.n++
	s.start = time.Now()
	fmt.Fprintf(s.w, "[%d/%d] %s\n", s.n, s.of, fmt.Sprintf(format, args...))
}

func (s *step) done(format string, args ...any) {
	fmt.Fprintf(s.w, "      %s (%.1fs)\n", fmt.Sprintf(format, args...), time.Since(s.start).Seconds())
}

// runBuild is the build once the command line is checked: lock, clean,
// build, sign, package, sum, publish.
func runBuild(ctx context.Context, cfg buildConfig, moduleDir string, stdout io.Writer) error {
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return fmt.Errorf("create --out: %w", err)
	}
	lock, err := release.AcquireLock(filepath.Join(cfg.out, release.LockFile))
	if err != nil {
		return err
	}
	defer lock.Release()
	fmt.Fprintf(stdout, "release %s (%s channel) in %s, holding %s\n", cfg.version, cfg.channel, cfg.out, release.LockFile)
	if err := cleanOut(cfg.out, stdout); err != nil {
		return err
	}

	// Steps: one build and one signature per target, the packager, the
	// installers, the sums, one publish per target.
	st := &step{w: stdout, of: 2*len(cfg.targets) + 3}
	if cfg.publisher != nil {
		st.of += len(cfg.targets)
	}
	bins := make([]string, len(cfg.targets))
	for i, t := range cfg.targets {
		bins[i] = filepath.Join(cfg.out, binaryName(t))
		st.begin("build %s", t)
		if err := buildAgent(ctx, moduleDir, t, cfg.version, cfg.embed, bins[i]); err != nil {
			return err
		}
		fi, err := os.Stat(bins[i])
		if err != nil {
			return err
		}
		st.done("%s, %.2f MB", filepath.Base(bins[i]), float64(fi.Size())/1e6)
	}
	sigs := make([][]byte, len(cfg.targets))
	signed := make([]protocol.SignedRelease, len(cfg.targets))
	for i, bin := range bins {
		st.begin("sign %s", filepath.Base(bin))
		s, err := release.SignFile(cfg.priv, bin, cfg.version)
		if err != nil {
			return err
		}
		signed[i], sigs[i] = s, s.Encode()
		if err := os.WriteFile(bin+".sig", sigs[i], 0o644); err != nil {
			return fmt.Errorf("write signature: %w", err)
		}
		st.done("sha256 %s, key %s", s.Statement.SHA256, s.KeyID)
	}

	st.begin("build the packager (cmd/steward-package)")
	tools, err := os.MkdirTemp("", "steward-release-build-*")
	if err != nil {
		return fmt.Errorf("packager: %w", err)
	}
	defer os.RemoveAll(tools)
	packager := filepath.Join(tools, "steward-package")
	if err := goBuild(ctx, moduleDir, nil, "-trimpath", "-o", packager, "./cmd/steward-package"); err != nil {
		return err
	}
	st.done("built")
	st.begin("build the installers")
	if err := buildPackages(ctx, packager, cfg, bins, stdout); err != nil {
		return err
	}
	st.done("installers done")
	st.begin("write SHA256SUMS")
	if err := runTool(ctx, "", packager, "sums", cfg.out); err != nil {
		return err
	}
	st.done("%s", filepath.Join(cfg.out, "SHA256SUMS"))

	if cfg.publisher == nil {
		fmt.Fprintf(stdout, "built and signed; NOT published (give --server or --data-dir/--database-url)\n")
		return nil
	}
	for i, bin := range bins {
		s := signed[i].Statement
		st.begin("publish %s %s/%s to %s", s.Version, s.OS, s.Arch, cfg.publisher)
		rel, err := publishOne(ctx, cfg, bin, sigs[i], s)
		if err != nil {
			return err
		}
		st.done("%s", rel)
	}
	fmt.Fprintf(stdout, "release %s done: %d targets built, signed and published\n", cfg.version, len(bins))
	return nil
}

// cleanOut removes what an earlier build left in dir (its binaries,
// signatures, installers and sums, complete or not), so that a build
// starts from a clean state, and refuses a directory holding anything else.
func cleanOut(dir string, stdout io.Writer) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read --out: %w", err)
	}
	var stale []string
	for _, e := range entries {
		n := e.Name()
		switch {
		case n == release.LockFile:
		case strings.HasPrefix(n, "steward-agent") || n == "SHA256SUMS" || strings.HasPrefix(n, ".msi-") || strings.HasPrefix(n, ".SHA256SUMS"):
			stale = append(stale, n)
		default:
			return fmt.Errorf("%s holds %s, which a release build did not write: give an empty or new --out", dir, n)
		}
	}
	for _, n := range stale {
		if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
			return fmt.Errorf("remove an earlier build's %s: %w", n, err)
		}
	}
	if len(stale) > 0 {
		fmt.Fprintf(stdout, "removed %d files of an earlier build from %s\n", len(stale), dir)
	}
	return nil
}

// buildAgent cross-builds the agent for target with the flags of the
// Makefile's agent rule, the version and the trusted keys stamped in.
func buildAgent(ctx context.Context, moduleDir, target, version string, keys []string, out string) error {
	goos, goarch, _ := strings.Cut(target, "/")
	// -ldflags is split like a shell line: the keys hold spaces, so the -X
	// goes in single quotes (keys are base64, never a quote).
	ldflags := "-s -w -X " + modulePath + "/internal/agent.Version=" + version +
		" -X '" + modulePath + "/internal/agent.ReleaseKeys=" + strings.Join(keys, ",") + "'"
	return goBuild(ctx, moduleDir, []string{"GOOS=" + goos, "GOARCH=" + goarch},
		"-trimpath", "-tags", "nethttpomithttp2", "-gcflags", "all=-l", "-ldflags", ldflags, "-o", out, "./cmd/steward-agent")
}

// goBuild runs go build in the module without cgo, as every Steward
// binary is built.
func goBuild(ctx context.Context, moduleDir string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", append([]string{"build"}, args...)...)
	cmd.Dir = moduleDir
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
	ownChild(cmd)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s (%s): %w\n%s", args[len(args)-1], strings.Join(env, " "), err, b)
	}
	return nil
}

// runTool runs a build tool, its output in the error when it fails.
func runTool(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	ownChild(cmd)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, bytes.TrimSpace(b))
	}
	return nil
}

// msiTools are the programs steward-package needs for an MSI.
var msiTools = []string{"wixl", "msibuild", "msiinfo"}

// buildPackages builds an MSI per Windows binary and a .deb and an .rpm
// per Linux binary. An MSI whose tools are missing is skipped with a
// message; the .deb and .rpm need none (nfpm is a library).
func buildPackages(ctx context.Context, packager string, cfg buildConfig, bins []string, stdout io.Writer) error {
	var missing []string
	for _, t := range msiTools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	for i, t := range cfg.targets {
		goos, goarch, _ := strings.Cut(t, "/")
		bin := bins[i]
		base := strings.TrimSuffix(bin, ".exe")
		switch goos {
		case "windows":
			if len(missing) > 0 {
				fmt.Fprintf(stdout, "      skipped %s.msi: %s not installed (Debian: apt-get install wixl msitools)\n", filepath.Base(base), strings.Join(missing, ", "))
				continue
			}
			arch := goarch
			if arch == "amd64" {
				arch = "x64"
			}
			if err := runTool(ctx, "", packager, "msi", "--exe", bin, "--arch", arch, "--version", cfg.version, "--out", base+".msi"); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "      %s.msi\n", filepath.Base(base))
		case "linux":
			for _, kind := range []string{"deb", "rpm"} {
				if err := runTool(ctx, "", packager, kind, "--bin", bin, "--arch", goarch, "--version", cfg.version, "--out", base+"."+kind); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "      %s.%s\n", filepath.Base(base), kind)
			}
		}
	}
	return nil
}

// releasePublisher stores a signed release: on a server over its API, or
// in the database directly.
type releasePublisher interface {
	// existing returns the release of version for os/arch, or
	// store.ErrNotFound.
	existing(ctx context.Context, version, goos, goarch string) (store.Release, error)
	publish(ctx context.Context, bin string, sig []byte, signed protocol.SignedRelease, channel, notes string) (store.Release, error)
	String() string
}

// publishOne publishes one binary unless its version is already published
// for its platform: the same bytes are reported and skipped, different
// bytes are an error (a published version is never replaced).
func publishOne(ctx context.Context, cfg buildConfig, bin string, sig []byte, st protocol.ReleaseStatement) (string, error) {
	signed, err := protocol.DecodeSignedRelease(sig)
	if err != nil {
		return "", err
	}
	check := func() (string, bool, error) {
		rel, err := cfg.publisher.existing(ctx, st.Version, st.OS, st.Arch)
		if errors.Is(err, store.ErrNotFound) {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		if rel.SHA256 != st.SHA256 {
			return "", true, fmt.Errorf("%s %s/%s is already published (release %s) with sha256 %s, not this build's %s: a published version is never replaced, build a new version",
				st.Version, st.OS, st.Arch, rel.ID, rel.SHA256, st.SHA256)
		}
		return fmt.Sprintf("already published as release %s with the same sha256: kept", rel.ID), true, nil
	}
	if msg, found, err := check(); found || err != nil {
		return msg, err
	}
	rel, err := cfg.publisher.publish(ctx, bin, sig, signed, cfg.channel, cfg.notes)
	if err != nil {
		// Another build may have published it meanwhile.
		if msg, found, cerr := check(); found && cerr == nil {
			return msg, nil
		}
		return "", err
	}
	return fmt.Sprintf("published as release %s on %s", rel.ID, rel.Channel), nil
}

// apiPublisher publishes over POST /api/v1/releases.
type apiPublisher struct {
	base  *url.URL
	token string
	hc    *http.Client
}

func newAPIPublisher(server, token string) (*apiPublisher, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: want the server's base URL, e.g. https://rmm.example.com", server)
	}
	return &apiPublisher{base: u, token: token, hc: &http.Client{Timeout: 10 * time.Minute}}, nil
}

func (p *apiPublisher) String() string { return p.base.String() }

func (p *apiPublisher) do(req *http.Request, want int, into any) error {
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := p.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode != want {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, msg)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

func (p *apiPublisher) existing(ctx context.Context, version, goos, goarch string) (store.Release, error) {
	q := url.Values{"version": {version}, "os": {goos}, "arch": {goarch}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base.String()+"/api/v1/releases?"+q.Encode(), nil)
	if err != nil {
		return store.Release{}, err
	}
	var l struct {
		Items []store.Release `json:"items"`
	}
	if err := p.do(req, http.StatusOK, &l); err != nil {
		return store.Release{}, err
	}
	for _, r := range l.Items {
		if r.Version == version && r.OS == goos && r.Arch == goarch {
			return r, nil
		}
	}
	return store.Release{}, store.ErrNotFound
}

func (p *apiPublisher) publish(ctx context.Context, bin string, sig []byte, signed protocol.SignedRelease, channel, notes string) (store.Release, error) {
	// The binary is streamed: the body is written while it is sent.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(writeReleaseForm(mw, bin, sig, signed.Statement, channel, notes))
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base.String()+"/api/v1/releases", pr)
	if err != nil {
		pr.Close()
		<-done
		return store.Release{}, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var rel store.Release
	err = p.do(req, http.StatusCreated, &rel)
	// Closing the reader ends the writer goroutine, whatever happened.
	pr.Close()
	<-done
	return rel, err
}

// writeReleaseForm writes the multipart form of POST /api/v1/releases.
func writeReleaseForm(mw *multipart.Writer, bin string, sig []byte, st protocol.ReleaseStatement, channel, notes string) error {
	for _, f := range [][2]string{{"signature", string(sig)}, {"channel", channel}, {"notes", notes},
		{"version", st.Version}, {"os", st.OS}, {"arch", st.Arch}} {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return err
		}
	}
	part, err := mw.CreateFormFile("file", filepath.Base(bin))
	if err != nil {
		return err
	}
	f, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(part, f); err != nil {
		return err
	}
	return mw.Close()
}

// dbPublisher publishes into the database, as release publish does.
type dbPublisher struct {
	db      *store.DB
	svc     *manage.Service
	trusted []protocol.ReleaseKey
}

func (p *dbPublisher) String() string { return "the database" }

func (p *dbPublisher) existing(ctx context.Context, version, goos, goarch string) (store.Release, error) {
	items, _, err := p.db.ListReleases(ctx, store.ReleaseFilter{Version: version, OS: goos, Arch: goarch}, store.Page{Limit: 10})
	if err != nil {
		return store.Release{}, err
	}
	if len(items) == 0 {
		return store.Release{}, store.ErrNotFound
	}
	return items[0], nil
}

func (p *dbPublisher) publish(ctx context.Context, bin string, _ []byte, signed protocol.SignedRelease, channel, notes string) (store.Release, error) {
	f, err := os.Open(bin)
	if err != nil {
		return store.Release{}, fmt.Errorf("open release file: %w", err)
	}
	defer f.Close()
	return p.svc.PublishRelease(ctx, access.Console(), p.trusted, signed, channel, notes, f)
}
