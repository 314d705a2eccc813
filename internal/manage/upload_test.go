package manage_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime/multipart"
	"os"
	"testing"

	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
)

const boundary = "steward-test-boundary"

// body builds a multipart body of parts, in order; a part named "file"
// is sent as a file.
func body(t testing.TB, parts ...[2]string) []byte {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary(boundary); err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		if p[0] == "file" {
			w, _ := mw.CreateFormFile("file", "steward-agent")
			w.Write([]byte(p[1]))
			continue
		}
		mw.WriteField(p[0], p[1])
	}
	mw.Close()
	return b.Bytes()
}

func read(data []byte) (*manage.ReleaseUpload, error) {
	return manage.ReadReleaseUpload(multipart.NewReader(bytes.NewReader(data), boundary))
}

func TestReadReleaseUpload(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	file := []byte("agent binary")
	sum := sha256.Sum256(file)
	signed, err := protocol.SignRelease(priv, protocol.ReleaseStatement{Version: "1.0.0", OS: "linux", Arch: "amd64",
		Size: int64(len(file)), SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		t.Fatal(err)
	}
	sig := string(signed.Encode())

	up, err := read(body(t, [2]string{"file", string(file)}, [2]string{"signature", sig}, [2]string{"notes", "n"}))
	if err != nil {
		t.Fatalf("good upload: %v", err)
	}
	got, err := io.ReadAll(up.File)
	if err != nil || !bytes.Equal(got, file) || up.Channel != manage.ChannelStable || up.Notes != "n" || up.Signed.Statement.Version != "1.0.0" {
		t.Errorf("good upload read %q (%v), channel %q, notes %q, version %q", got, err, up.Channel, up.Notes, up.Signed.Statement.Version)
	}
	if err := up.Close(); err != nil {
		t.Errorf("close: %v", err)
	}

	refusals := []struct {
		name  string
		body  []byte
		field string
	}{
		{"no file", body(t, [2]string{"signature", sig}), "file"},
		{"two files", body(t, [2]string{"file", "a"}, [2]string{"file", "b"}, [2]string{"signature", sig}), "file"},
		{"no signature", body(t, [2]string{"file", "a"}), "signature"},
		{"bad signature", body(t, [2]string{"file", "a"}, [2]string{"signature", "{"}), "signature"},
		{"other arch", body(t, [2]string{"file", "a"}, [2]string{"signature", sig}, [2]string{"arch", "arm64"}), "arch"},
		{"unknown part", body(t, [2]string{"colour", "red"}), ""},
		{"long notes", body(t, [2]string{"notes", string(bytes.Repeat([]byte("x"), 17<<10))}), "notes"},
		{"truncated", body(t, [2]string{"file", "a"})[:40], ""},
	}
	for _, r := range refusals {
		_, err := read(r.body)
		var ref *manage.UploadRefusal
		if !errors.As(err, &ref) || ref.Field != r.field {
			t.Errorf("%s: %v, want a refusal of field %q", r.name, err, r.field)
		}
	}
	// Nothing spooled is left behind, whatever the outcome.
	if left, _ := os.ReadDir(os.Getenv("TMPDIR")); len(left) != 0 {
		t.Errorf("%d spooled files left behind", len(left))
	}
}

// FuzzReadReleaseUpload feeds arbitrary bodies: the reader refuses or
// accepts, never panics, and never leaves a spooled file behind.
func FuzzReadReleaseUpload(f *testing.F) {
	f.Add(body(f, [2]string{"file", "abc"}, [2]string{"signature", `{"statement":{}}`}))
	f.Add(body(f, [2]string{"channel", "beta"}, [2]string{"notes", "x"}))
	f.Add([]byte("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		t.Setenv("TMPDIR", dir)
		up, err := read(data)
		if err == nil {
			up.Close()
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Fatalf("%d spooled files left behind", len(left))
		}
	})
}
