package manage_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

func signedFile(t *testing.T, priv ed25519.PrivateKey, version string, data []byte) protocol.SignedRelease {
	t.Helper()
	sum := sha256.Sum256(data)
	s, err := protocol.SignRelease(priv, protocol.ReleaseStatement{Version: version, OS: "linux", Arch: "amd64",
		Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPublishRelease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		svc := manage.New(db)
		priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
		other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
		keys := []protocol.ReleaseKey{protocol.NewReleaseKey(priv.Public().(ed25519.PublicKey))}
		data := bytes.Repeat([]byte("agent!"), 100000)
		good := signedFile(t, priv, "1.0.0", data)
		console := access.Console()

		rel, err := svc.PublishRelease(ctx, console, keys, good, "stable", " first ", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if rel.Version != "1.0.0" || rel.Notes != "first" || rel.Channel != "stable" || rel.SHA256 != good.Statement.SHA256 {
			t.Fatalf("published %+v", rel)
		}
		back, err := protocol.DecodeSignedRelease([]byte(rel.Signature))
		if err != nil || protocol.VerifyRelease(keys, back) != nil {
			t.Fatalf("stored signature does not verify: %v", err)
		}

		tampered := append([]byte(nil), data...)
		tampered[10] ^= 1
		tech := access.Principal{User: store.User{Role: store.RoleTechnician}, Via: "session"}
		tests := []struct {
			name    string
			p       access.Principal
			keys    []protocol.ReleaseKey
			signed  protocol.SignedRelease
			channel string
			file    []byte
			field   string
			want    error
		}{
			{name: "technician", p: tech, keys: keys, signed: signedFile(t, priv, "1.1.0", data), channel: "stable", file: data, want: access.ErrForbidden},
			{name: "no trusted keys", p: console, signed: signedFile(t, priv, "1.1.0", data), channel: "stable", file: data, want: manage.ErrNoReleaseKeys},
			{name: "other key", p: console, keys: keys, signed: signedFile(t, other, "1.1.0", data), channel: "stable", file: data, field: "signature"},
			{name: "unsigned", p: console, keys: keys, signed: func() protocol.SignedRelease { s := signedFile(t, priv, "1.1.0", data); s.Signature = nil; return s }(), channel: "stable", file: data, field: "signature"},
			{name: "tampered file", p: console, keys: keys, signed: signedFile(t, priv, "1.1.0", data), channel: "stable", file: tampered, field: "file"},
			{name: "short file", p: console, keys: keys, signed: signedFile(t, priv, "1.1.0", data), channel: "stable", file: data[:100], field: "file"},
			{name: "long file", p: console, keys: keys, signed: signedFile(t, priv, "1.1.0", data), channel: "stable", file: append(append([]byte(nil), data...), 'x'), field: "file"},
			{name: "bad channel", p: console, keys: keys, signed: signedFile(t, priv, "1.1.0", data), channel: "Stable!", file: data, field: "channel"},
			{name: "same version", p: console, keys: keys, signed: good, channel: "beta", file: data, field: "version"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := svc.PublishRelease(ctx, tt.p, tt.keys, tt.signed, tt.channel, "", bytes.NewReader(tt.file))
				if err == nil {
					t.Fatal("published")
				}
				if tt.want != nil && !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				var fe *input.Error
				if tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field) {
					t.Fatalf("err = %v, want a field error on %s", err, tt.field)
				}
			})
		}
		list, total, err := db.ListReleases(ctx, store.ReleaseFilter{}, store.Page{})
		if err != nil || total != 1 || list[0].ID != rel.ID {
			t.Fatalf("after the refusals: %d releases (%v)", total, err)
		}
		entries, _, err := db.ListAudit(ctx, store.AuditFilter{Action: "release.publish"}, store.Page{})
		if err != nil || len(entries) != 1 || !strings.Contains(entries[0].Detail["sha256"], rel.SHA256[:8]) {
			t.Fatalf("audit: %+v, %v", entries, err)
		}
	})
}
