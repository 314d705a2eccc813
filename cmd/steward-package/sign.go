package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// signer signs Windows binaries and MSIs with osslsigncode (Authenticode).
// The zero value signs nothing: signing happens only when a certificate is
// configured.
type signer struct {
	Cert, Key string // PEM certificate (chain) and private key
	PKCS12    string // or a PKCS#12 bundle
	Password  string // the PKCS#12 (or key) password; from the environment only
	Timestamp string // RFC 3161 time-stamp server, optional
	Name      string // description shown in the UAC prompt
}

// addFlags registers the signing flags, defaulting to the environment.
func (s *signer) addFlags(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&s.Cert, "sign-cert", getenv("STEWARD_SIGN_CERT"), "PEM code-signing certificate (env STEWARD_SIGN_CERT)")
	fs.StringVar(&s.Key, "sign-key", getenv("STEWARD_SIGN_KEY"), "PEM private key of --sign-cert (env STEWARD_SIGN_KEY)")
	fs.StringVar(&s.PKCS12, "sign-pkcs12", getenv("STEWARD_SIGN_PKCS12"), "PKCS#12 certificate and key, instead of --sign-cert/--sign-key (env STEWARD_SIGN_PKCS12; password in STEWARD_SIGN_PASSWORD)")
	fs.StringVar(&s.Timestamp, "sign-timestamp", getenv("STEWARD_SIGN_TIMESTAMP"), "RFC 3161 time-stamp server URL (env STEWARD_SIGN_TIMESTAMP)")
	s.Password = getenv("STEWARD_SIGN_PASSWORD")
	s.Name = "Steward Agent"
}

// enabled reports whether a certificate is configured, and whether the
// configuration is complete.
func (s *signer) enabled() (bool, error) {
	switch {
	case s.PKCS12 != "" && (s.Cert != "" || s.Key != ""):
		return false, usageError("give either --sign-pkcs12 or --sign-cert with --sign-key, not both")
	case s.PKCS12 != "":
		return true, nil
	case s.Cert != "" && s.Key != "":
		return true, nil
	case s.Cert != "" || s.Key != "":
		return false, usageError("--sign-cert and --sign-key go together")
	}
	return false, nil
}

// sign writes a signed copy of in to out (a different path).
func (s *signer) sign(ctx context.Context, in, out string) error {
	args := []string{"sign", "-h", "sha256", "-n", s.Name}
	if s.PKCS12 != "" {
		args = append(args, "-pkcs12", s.PKCS12)
	} else {
		args = append(args, "-certs", s.Cert, "-key", s.Key)
	}
	if s.Password != "" {
		// -readpass, not -pass: an argument shows in the process list.
		pf, err := os.CreateTemp(filepath.Dir(out), ".signpass-*")
		if err != nil {
			return fmt.Errorf("sign %s: %w", in, err)
		}
		defer os.Remove(pf.Name())
		_, err = io.WriteString(pf, s.Password)
		if cerr := pf.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("sign %s: write the password file: %w", in, err)
		}
		args = append(args, "-readpass", pf.Name())
	}
	if s.Timestamp != "" {
		args = append(args, "-ts", s.Timestamp)
	}
	args = append(args, "-in", in, "-out", out)
	// osslsigncode refuses to overwrite; a failed earlier run may have left one.
	if err := os.Remove(out); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sign %s: %w", in, err)
	}
	// Not through command(): the arguments name the password file only,
	// but a failure message should not list them all.
	b, err := exec.CommandContext(ctx, "osslsigncode", args...).CombinedOutput()
	if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("osslsigncode is not installed (Debian: apt-get install osslsigncode): %w", err)
	}
	if err != nil {
		return fmt.Errorf("osslsigncode sign %s: %w: %s", in, err, strings.TrimSpace(string(b)))
	}
	return nil
}

// runSign is `steward-package sign`: sign one file, which must be
// configured to happen (signing nothing would be a silent failure here).
func runSign(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "file to sign (.exe or .msi)")
	out := fs.String("out", "", "signed file to write")
	var s signer
	s.addFlags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if *in == "" || *out == "" {
		return usageError("--in and --out are required")
	}
	on, err := s.enabled()
	if err != nil {
		return err
	}
	if !on {
		return usageError("no certificate configured (--sign-cert and --sign-key, or --sign-pkcs12)")
	}
	tmp := *out + ".tmp"
	if err := s.sign(ctx, *in, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, *out); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	fmt.Fprintf(stdout, "signed %s\n", *out)
	return nil
}
