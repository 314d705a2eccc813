package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// testCert writes a throw-away self-signed code-signing certificate and
// its key as PEM files.
func testCert(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "Steward Test Code Signing", Organization: []string{"Steward Test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// windowsExe builds a small real Windows binary (osslsigncode signs PE
// files only).
func windowsExe(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "hello.exe")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-ldflags=-s -w", "-o", exe, src)
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build a windows exe: %v: %s", err, out)
	}
	return exe
}

// verify runs osslsigncode verify against the test certificate as the
// only trusted root.
func verify(t *testing.T, file, ca string) error {
	t.Helper()
	out, err := exec.Command("osslsigncode", "verify", "-CAfile", ca, "-in", file).CombinedOutput()
	if err == nil && !strings.Contains(string(out), "Signature verification: ok") {
		t.Fatalf("osslsigncode verify %s exited 0 without saying ok:\n%s", file, out)
	}
	if err != nil {
		return &verifyError{string(out)}
	}
	return nil
}

type verifyError struct{ out string }

func (e *verifyError) Error() string { return "verify failed: " + e.out }

func TestSign(t *testing.T) {
	t.Parallel()
	needTools(t, "osslsigncode")
	dir := t.TempDir()
	cert, key := testCert(t, dir)
	exe := windowsExe(t, dir)
	s := signer{Cert: cert, Key: key, Name: "Steward Agent"}

	signed := filepath.Join(dir, "signed.exe")
	if err := s.sign(t.Context(), exe, signed); err != nil {
		t.Fatal(err)
	}
	if err := verify(t, signed, cert); err != nil {
		t.Errorf("signed exe: %v", err)
	}
	// The checks can fail: the unsigned binary, a tampered signed one.
	if err := verify(t, exe, cert); err == nil {
		t.Error("the unsigned exe verified")
	}
	b, err := os.ReadFile(signed)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0xff
	tampered := filepath.Join(dir, "tampered.exe")
	if err := os.WriteFile(tampered, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := verify(t, tampered, cert); err == nil {
		t.Error("a tampered signed exe verified")
	}

	// PKCS#12 with its password from the environment, through the command.
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Log("openssl missing: the PKCS#12 path is not tested")
		return
	}
	p12 := filepath.Join(dir, "cert.p12")
	if out, err := exec.Command("openssl", "pkcs12", "-export", "-in", cert, "-inkey", key, "-out", p12, "-passout", "pass:s3cret pass").CombinedOutput(); err != nil {
		t.Fatalf("openssl pkcs12: %v: %s", err, out)
	}
	env := map[string]string{"STEWARD_SIGN_PKCS12": p12, "STEWARD_SIGN_PASSWORD": "s3cret pass"}
	out := filepath.Join(dir, "p12.exe")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"sign", "--in", exe, "--out", out}, &stdout, &stderr, func(k string) string { return env[k] }); code != 0 {
		t.Fatalf("steward-package sign with PKCS#12 exited %d: %s", code, stderr.String())
	}
	if err := verify(t, out, cert); err != nil {
		t.Errorf("exe signed with PKCS#12: %v", err)
	}
	env["STEWARD_SIGN_PASSWORD"] = "wrong"
	if code := run(t.Context(), []string{"sign", "--in", exe, "--out", filepath.Join(dir, "bad.exe")}, &stdout, &stderr, func(k string) string { return env[k] }); code != 1 {
		t.Errorf("signing with a wrong PKCS#12 password exited %d, want 1", code)
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, ".signpass-*")); len(entries) > 0 {
		t.Errorf("password files left behind: %q", entries)
	}
}

// TestSignedMSI builds a signed MSI: the MSI verifies, and so does the
// binary inside it.
func TestSignedMSI(t *testing.T) {
	t.Parallel()
	needTools(t, "osslsigncode", "wixl", "msibuild", "msiinfo", "msiextract")
	dir := t.TempDir()
	cert, key := testCert(t, dir)
	exe := windowsExe(t, dir)
	v, _ := parseVersion("v1.0.0")
	msi := filepath.Join(dir, "signed.msi")
	err := buildMSI(t.Context(), msiOptions{Exe: exe, Arch: "x64", Out: msi, Version: v, Sign: signer{Cert: cert, Key: key, Name: "Steward Agent"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(t, msi, cert); err != nil {
		t.Errorf("signed MSI: %v", err)
	}
	x := filepath.Join(dir, "x")
	if out, err := exec.Command("msiextract", "-C", x, msi).CombinedOutput(); err != nil {
		t.Fatalf("msiextract: %v: %s", err, out)
	}
	inner, _ := filepath.Glob(filepath.Join(x, "*", "*", "steward-agent.exe"))
	if len(inner) == 0 {
		inner, _ = filepath.Glob(filepath.Join(x, "*", "steward-agent.exe"))
	}
	if len(inner) != 1 {
		out, _ := exec.Command("find", x).Output()
		t.Fatalf("steward-agent.exe not found in the MSI:\n%s", out)
	}
	if err := verify(t, inner[0], cert); err != nil {
		t.Errorf("the exe in the signed MSI: %v", err)
	}
	unsigned := filepath.Join(dir, "unsigned.msi")
	if err := buildMSI(t.Context(), msiOptions{Exe: exe, Arch: "x64", Out: unsigned, Version: v}); err != nil {
		t.Fatal(err)
	}
	if err := verify(t, unsigned, cert); err == nil {
		t.Error("an unsigned MSI verified")
	}
}
