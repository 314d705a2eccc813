package manage

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"

	"github.com/steward-rmm/steward/internal/protocol"
)

// maxReleaseFieldBytes bounds each text part of a release upload.
const maxReleaseFieldBytes = 16 << 10

// UploadRefusal says why a release upload was refused before it reached
// PublishRelease. The API and the dashboard both read uploads with
// ReadReleaseUpload and show these their own way.
type UploadRefusal struct {
	// Field is the part at fault ("file", "signature", "version", ...);
	// empty when the body as a whole is.
	Field string
	Msg   string
	// TooLarge reports that the upload exceeds protocol.MaxReleaseBytes.
	TooLarge bool
}

func (e *UploadRefusal) Error() string { return e.Msg }

func refuse(field, format string, args ...any) error {
	return &UploadRefusal{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ReleaseUpload is a release upload read from a multipart body: the
// binary spooled to a temporary file, so that the database transaction
// never waits on the network, and the text parts.
type ReleaseUpload struct {
	Signed  protocol.SignedRelease
	Channel string
	Notes   string
	// File is the spooled binary, positioned at its start.
	File *os.File
}

// Close removes the spooled file.
func (u *ReleaseUpload) Close() error {
	if u == nil || u.File == nil {
		return nil
	}
	err := u.File.Close()
	if rerr := os.Remove(u.File.Name()); err == nil {
		err = rerr
	}
	return err
}

// ReadReleaseUpload reads the rest of a release upload from mr: the binary
// in part "file", the .sig file in part "signature", "channel" (default
// stable) and "notes"; "version", "os" and "arch", when given, must match
// what was signed. Refusals are *UploadRefusal; the caller closes the
// upload it returns. The caller bounds the body (protocol.MaxReleaseBytes
// plus room for the text parts).
func ReadReleaseUpload(mr *multipart.Reader) (_ *ReleaseUpload, err error) {
	fields := map[string]string{}
	up := &ReleaseUpload{}
	defer func() {
		if err != nil {
			up.Close()
		}
	}()
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, uploadError(err)
		}
		name := part.FormName()
		switch name {
		case "file":
			if up.File != nil {
				return nil, refuse("file", "more than one file part")
			}
			if up.File, err = os.CreateTemp("", "steward-release-*"); err != nil {
				return nil, fmt.Errorf("spool release upload: %w", err)
			}
			n, err := io.Copy(up.File, io.LimitReader(part, protocol.MaxReleaseBytes+1))
			if err != nil {
				return nil, uploadError(err)
			}
			if n > protocol.MaxReleaseBytes {
				return nil, &UploadRefusal{Field: "file", Msg: fmt.Sprintf("file is larger than %d bytes", protocol.MaxReleaseBytes), TooLarge: true}
			}
			if n == 0 && part.FileName() == "" {
				// A browser sends an empty part when no file was chosen.
				up.File.Close()
				os.Remove(up.File.Name())
				up.File = nil
			}
		case "signature", "channel", "notes", "version", "os", "arch":
			b, err := io.ReadAll(io.LimitReader(part, maxReleaseFieldBytes+1))
			if err != nil {
				return nil, uploadError(err)
			}
			if len(b) > maxReleaseFieldBytes {
				return nil, refuse(name, "part %s is larger than %d bytes", name, maxReleaseFieldBytes)
			}
			fields[name] = string(b)
		default:
			return nil, refuse("", "unknown part %q: want file, signature, channel, notes (and optionally version, os, arch)", name)
		}
	}
	if up.File == nil {
		return nil, refuse("file", "part file is missing: the agent binary to publish")
	}
	sig := strings.TrimSpace(fields["signature"])
	if sig == "" {
		return nil, refuse("signature", "part signature is missing: the .sig file written by steward release sign")
	}
	if up.Signed, err = protocol.DecodeSignedRelease([]byte(sig)); err != nil {
		return nil, refuse("signature", "signature: %v", err)
	}
	if err := matchStatement(up.Signed.Statement, fields["version"], fields["os"], fields["arch"]); err != nil {
		return nil, err
	}
	up.Channel = strings.TrimSpace(fields["channel"])
	if up.Channel == "" {
		up.Channel = ChannelStable
	}
	up.Notes = fields["notes"]
	if _, err := up.File.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind release upload: %w", err)
	}
	return up, nil
}

// matchStatement checks the optional version, os and arch a publisher
// named against what was signed.
func matchStatement(st protocol.ReleaseStatement, version, goos, goarch string) error {
	for _, c := range []struct{ name, given, signed string }{
		{"version", version, st.Version}, {"os", goos, st.OS}, {"arch", goarch, st.Arch},
	} {
		if g := strings.TrimSpace(c.given); g != "" && g != c.signed {
			return refuse(c.name, "%s %q differs from the signed %s %q", c.name, g, c.name, c.signed)
		}
	}
	return nil
}

func uploadError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &UploadRefusal{Field: "file", Msg: fmt.Sprintf("upload is larger than %d bytes", protocol.MaxReleaseBytes), TooLarge: true}
	}
	return refuse("", "read the upload: %v", err)
}
