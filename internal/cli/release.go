package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/release"
	"github.com/steward-rmm/steward/internal/store"
)

const releaseUsage = `Usage:
  steward release keygen --out DIR
  steward release sign --key KEY --version V [--rollback] FILE...
  steward release publish --file F [--signature F.sig] [--channel stable|beta] [--notes TEXT]
                          [--version V] [--os OS] [--arch ARCH] [--release-key KEY]...
  steward release list [--channel C]
  steward release key --key SIGNER.key (--add NEW.pub | --retire KEYID) --out FILE
  steward release trust --statement FILE [--release-key KEY]...
  steward release build --key KEY [--version V] [--channel C] [--server URL --token-file F] ...

keygen makes an ed25519 release key pair (keep release.key offline; give
release.pub to the server with --release-key). sign writes FILE.sig beside
each agent binary, binding its version, OS and architecture (read from the
binary) to its size and SHA-256. publish checks the signature against the
trusted keys and stores the release in the server's database; version, os
and arch, when given, must match what was signed. key writes a statement,
signed by a trusted key, that adds or retires a release key (rotation);
trust stores it on the server, which hands it to agents with every update.
build does all of it for every agent target in one step ("steward release
build -h").
`

func releaseCmd(ctx context.Context, args []string, env Env, stdio IO) error {
	if len(args) == 0 {
		fmt.Fprint(stdio.Stderr, releaseUsage)
		return errUsage
	}
	switch args[0] {
	case "keygen":
		return releaseKeygen(args[1:], stdio)
	case "sign":
		return releaseSign(args[1:], stdio)
	case "publish":
		return releasePublish(ctx, args[1:], env, stdio)
	case "list":
		return releaseList(ctx, args[1:], env, stdio)
	case "key":
		return releaseKeyStatement(args[1:], stdio)
	case "trust":
		return releaseTrust(ctx, args[1:], env, stdio)
	case "build":
		return releaseBuild(ctx, args[1:], env, stdio)
	case "-h", "--help", "help":
		fmt.Fprint(stdio.Stdout, releaseUsage)
		return nil
	}
	fmt.Fprintf(stdio.Stderr, "unknown release command %q\n\n%s", args[0], releaseUsage)
	return errUsage
}

func releaseKeygen(args []string, stdio IO) error {
	fs := newFlagSet("release keygen", stdio)
	out := fs.String("out", "", "`DIR` to write release.key and release.pub into")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fmt.Fprintln(stdio.Stderr, "release keygen: --out DIR is required")
		return errUsage
	}
	key, err := release.GenerateKey(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Stdout, "release key %s written to %s/%s (private: keep it offline) and %s/%s\n",
		key.ID, *out, release.PrivateKeyFile, *out, release.PublicKeyFile)
	fmt.Fprintf(stdio.Stdout, "trust it on the server with: steward serve --release-key %s/%s\n", *out, release.PublicKeyFile)
	return nil
}

func releaseSign(args []string, stdio IO) error {
	fs := newFlagSet("release sign", stdio)
	keyPath := fs.String("key", "", "the private release `KEY` file (release.key)")
	version := fs.String("version", "", "the semantic `VERSION` the binaries were built as, e.g. 1.4.0")
	rollback := fs.Bool("rollback", false, "write FILE.rollback instead: the instruction that lets agents on newer versions go back to this release")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if *keyPath == "" || *version == "" || fs.NArg() == 0 {
		fmt.Fprintln(stdio.Stderr, "release sign: --key, --version and at least one FILE are required")
		return errUsage
	}
	priv, err := release.LoadPrivateKey(*keyPath)
	if err != nil {
		return err
	}
	for _, file := range fs.Args() {
		if *rollback {
			st, err := release.Describe(file, *version)
			if err != nil {
				return err
			}
			rb, err := protocol.SignRollback(priv, st)
			if err != nil {
				return err
			}
			if err := os.WriteFile(file+".rollback", rb.Encode(), 0o644); err != nil {
				return fmt.Errorf("write rollback instruction: %w", err)
			}
			fmt.Fprintf(stdio.Stdout, "%s.rollback: agents may go back to %s %s/%s (key %s)\n", file, st.Version, st.OS, st.Arch, rb.KeyID)
			continue
		}
		signed, err := release.SignFile(priv, file, *version)
		if err != nil {
			return err
		}
		if err := os.WriteFile(file+".sig", signed.Encode(), 0o644); err != nil {
			return fmt.Errorf("write signature: %w", err)
		}
		st := signed.Statement
		fmt.Fprintf(stdio.Stdout, "%s.sig: %s %s/%s %d bytes sha256 %s key %s\n", file, st.Version, st.OS, st.Arch, st.Size, st.SHA256, signed.KeyID)
	}
	return nil
}

func releasePublish(ctx context.Context, args []string, env Env, stdio IO) error {
	fs := newFlagSet("release publish", stdio)
	var (
		d                             dbFlags
		keys                          []string
		file, sigPath, channel, notes string
		version, goos, goarch         string
	)
	d.register(fs, env)
	fs.StringVar(&file, "file", "", "the agent binary `FILE` to publish")
	fs.StringVar(&sigPath, "signature", "", "its signature `FILE`; default FILE.sig")
	fs.StringVar(&channel, "channel", manage.ChannelStable, "release `CHANNEL`: stable, beta or another name")
	fs.StringVar(&notes, "notes", "", "release notes `TEXT`")
	fs.StringVar(&version, "version", "", "check that the signed version is `V`")
	fs.StringVar(&goos, "os", "", "check that the signed OS is `OS`")
	fs.StringVar(&goarch, "arch", "", "check that the signed architecture is `ARCH`")
	fs.Func("release-key", "trust this release public `KEY` (text or file); default: the server's STEWARD_RELEASE_KEYS",
		func(v string) error { keys = append(keys, v); return nil })
	if err := parse(fs, args); err != nil {
		return err
	}
	if file == "" {
		fmt.Fprintln(stdio.Stderr, "release publish: --file is required")
		return errUsage
	}
	if sigPath == "" {
		sigPath = file + ".sig"
	}
	if len(keys) == 0 {
		keys = splitList(env("STEWARD_RELEASE_KEYS"))
	}
	trusted, err := release.LoadPublicKeys(keys)
	if err != nil {
		return fmt.Errorf("--release-key: %w", err)
	}
	sigData, err := os.ReadFile(sigPath)
	if err != nil {
		return fmt.Errorf("read signature: %w", err)
	}
	signed, err := protocol.DecodeSignedRelease([]byte(strings.TrimSpace(string(sigData))))
	if err != nil {
		return fmt.Errorf("%s: %w", sigPath, err)
	}
	st := signed.Statement
	for _, c := range []struct{ name, given, signed string }{{"version", version, st.Version}, {"os", goos, st.OS}, {"arch", goarch, st.Arch}} {
		if c.given != "" && c.given != c.signed {
			return fmt.Errorf("--%s %s differs from the signed %s %s", c.name, c.given, c.name, c.signed)
		}
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("open release file: %w", err)
	}
	defer f.Close()
	db, err := d.open(ctx, stdio.Stderr, false)
	if err != nil {
		return err
	}
	defer db.Close()
	rel, err := manage.New(db).PublishRelease(ctx, access.Console(), trusted, signed, channel, notes, f)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Stdout, "published %s %s/%s on %s (release %s, %d bytes, sha256 %s)\n", rel.Version, rel.OS, rel.Arch, rel.Channel, rel.ID, rel.Size, rel.SHA256)
	return nil
}

func releaseList(ctx context.Context, args []string, env Env, stdio IO) error {
	fs := newFlagSet("release list", stdio)
	var d dbFlags
	d.register(fs, env)
	channel := fs.String("channel", "", "only releases of `CHANNEL`")
	if err := parse(fs, args); err != nil {
		return err
	}
	db, err := d.open(ctx, stdio.Stderr, false)
	if err != nil {
		return err
	}
	defer db.Close()
	items, _, err := db.ListReleases(ctx, store.ReleaseFilter{Channel: *channel}, store.Page{Limit: 500})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdio.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tOS/ARCH\tCHANNEL\tSTATUS\tSIZE\tPUBLISHED\tID")
	for _, r := range items {
		fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\t%d\t%s\t%s\n", r.Version, r.OS, r.Arch, r.Channel, r.Status, r.Size, r.CreatedAt.Format("2006-01-02 15:04"), r.ID)
	}
	return tw.Flush()
}

func releaseKeyStatement(args []string, stdio IO) error {
	fs := newFlagSet("release key", stdio)
	keyPath := fs.String("key", "", "the private release `KEY` that signs the statement (a trusted one)")
	add := fs.String("add", "", "the public `KEY` to add: a release.pub file or the key's text")
	retire := fs.String("retire", "", "the `ID` of the key to retire")
	out := fs.String("out", "", "`FILE` to write the signed statement to")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *keyPath == "" || *out == "" || (*add == "") == (*retire == "") {
		fmt.Fprintln(stdio.Stderr, "release key: --key, --out and exactly one of --add and --retire are required")
		return errUsage
	}
	priv, err := release.LoadPrivateKey(*keyPath)
	if err != nil {
		return err
	}
	st := protocol.KeyStatement{Retire: strings.TrimSpace(*retire)}
	if *add != "" {
		keys, err := release.LoadPublicKeys([]string{*add})
		if err != nil {
			return err
		}
		if len(keys) != 1 {
			return fmt.Errorf("--add %s holds %d keys; name one", *add, len(keys))
		}
		st.Add = keys[0].String()
	}
	signed, err := protocol.SignKeyStatement(priv, st)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, signed.Encode(), 0o644); err != nil {
		return fmt.Errorf("write key statement: %w", err)
	}
	fmt.Fprintf(stdio.Stdout, "%s: signed by %s; store it with \"steward release trust --statement %s\" or POST /api/v1/release-keys\n", *out, signed.KeyID, *out)
	return nil
}

func releaseTrust(ctx context.Context, args []string, env Env, stdio IO) error {
	fs := newFlagSet("release trust", stdio)
	var (
		d    dbFlags
		keys []string
	)
	d.register(fs, env)
	stPath := fs.String("statement", "", "the signed key statement `FILE` (steward release key)")
	fs.Func("release-key", "a configured release public `KEY` (text or file); default: STEWARD_RELEASE_KEYS",
		func(v string) error { keys = append(keys, v); return nil })
	if err := parse(fs, args); err != nil {
		return err
	}
	if *stPath == "" {
		fmt.Fprintln(stdio.Stderr, "release trust: --statement is required")
		return errUsage
	}
	if len(keys) == 0 {
		keys = splitList(env("STEWARD_RELEASE_KEYS"))
	}
	configured, err := release.LoadPublicKeys(keys)
	if err != nil {
		return fmt.Errorf("--release-key: %w", err)
	}
	data, err := os.ReadFile(*stPath)
	if err != nil {
		return fmt.Errorf("read key statement: %w", err)
	}
	st, err := protocol.DecodeSignedKeyStatement([]byte(strings.TrimSpace(string(data))))
	if err != nil {
		return err
	}
	db, err := d.open(ctx, stdio.Stderr, false)
	if err != nil {
		return err
	}
	defer db.Close()
	trusted, err := manage.New(db).AddKeyStatement(ctx, access.Console(), configured, st)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Stdout, "stored; the server now trusts %d release keys:", len(trusted))
	for _, k := range trusted {
		fmt.Fprintf(stdio.Stdout, " %s", k.ID)
	}
	fmt.Fprintln(stdio.Stdout)
	return nil
}
