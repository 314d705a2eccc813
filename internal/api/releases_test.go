package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

// releaseUpload builds a multipart release upload from parts.
func releaseUpload(t *testing.T, file []byte, parts map[string]string) (string, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range parts {
		mw.WriteField(k, v)
	}
	if file != nil {
		fw, _ := mw.CreateFormFile("file", "steward-agent")
		fw.Write(file)
	}
	mw.Close()
	return b.String(), mw.FormDataContentType()
}

func signRelease(t *testing.T, priv ed25519.PrivateKey, version string, data []byte) string {
	t.Helper()
	sum := sha256.Sum256(data)
	s, err := protocol.SignRelease(priv, protocol.ReleaseStatement{Version: version, OS: "linux", Arch: "amd64",
		Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		t.Fatal(err)
	}
	return string(s.Encode())
}

func TestReleasesAPI(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))
	key := protocol.NewReleaseKey(priv.Public().(ed25519.PublicKey))
	opts := harnessOptions
	opts.ReleaseKeys, opts.MaxDownloads = []string{key.String()}, 1
	servertest.Each(t, opts, func(t *testing.T, s *servertest.Server) {
		// 24 MB: many stored chunks, and far more than loopback sockets
		// buffer (a few MB) for a reader that does not read, so that a
		// held download keeps its slot.
		data := bytes.Repeat([]byte("steward agent bytes\n"), 24<<20/20)
		post := func(role store.Role, file []byte, parts map[string]string) servertest.Response {
			body, ct := releaseUpload(t, file, parts)
			return s.Do(t, servertest.Request{Method: "POST", Path: "/api/v1/releases", Body: body, ContentType: ct, Token: s.User(t, role).Token})
		}
		good := map[string]string{"signature": signRelease(t, priv, "1.2.0", data), "channel": "beta", "notes": "fixes"}

		refusals := []struct {
			name   string
			role   store.Role
			file   []byte
			parts  map[string]string
			status int
			want   string
		}{
			{"technician", store.RoleTechnician, data, good, http.StatusForbidden, "cannot"},
			{"no file", store.RoleAdmin, nil, good, http.StatusBadRequest, "part file is missing"},
			{"no signature", store.RoleAdmin, data, map[string]string{"channel": "beta"}, http.StatusBadRequest, "part signature is missing"},
			{"garbage signature", store.RoleAdmin, data, map[string]string{"signature": "{}"}, http.StatusBadRequest, "signature"},
			{"other key", store.RoleAdmin, data, map[string]string{"signature": signRelease(t, other, "1.2.0", data)}, http.StatusBadRequest, "not trusted"},
			{"tampered", store.RoleAdmin, append([]byte("x"), data[1:]...), good, http.StatusBadRequest, "not the file that was signed"},
			{"wrong arch named", store.RoleAdmin, data, map[string]string{"signature": good["signature"], "arch": "arm64"}, http.StatusBadRequest, "differs from the signed arch"},
			{"bad channel", store.RoleAdmin, data, map[string]string{"signature": good["signature"], "channel": "Beta 2"}, http.StatusBadRequest, "channel"},
			{"unknown part", store.RoleAdmin, data, map[string]string{"signature": good["signature"], "colour": "red"}, http.StatusBadRequest, "unknown part"},
		}
		for _, r := range refusals {
			res := post(r.role, r.file, r.parts)
			if res.Status != r.status || !strings.Contains(string(res.Body), r.want) {
				t.Errorf("%s: %d %s, want %d saying %q", r.name, res.Status, res.Body, r.status, r.want)
			}
		}

		res := post(store.RoleAdmin, data, good)
		if res.Status != http.StatusCreated {
			t.Fatalf("publish: %d %s", res.Status, res.Body)
		}
		rel := servertest.Decode[store.Release](t, res)
		if rel.Version != "1.2.0" || rel.Channel != "beta" || rel.Size != int64(len(data)) || rel.Status != store.ReleaseActive {
			t.Fatalf("published %+v", rel)
		}
		if res := post(store.RoleAdmin, data, good); res.Status != http.StatusBadRequest || !strings.Contains(string(res.Body), "already published") {
			t.Errorf("publish again: %d %s", res.Status, res.Body)
		}
		list := servertest.Decode[listOf[store.Release]](t, s.As(t, store.RoleReadonly, "GET", "/api/v1/releases?channel=beta", "").Want(t, http.StatusOK))
		if list.Total != 1 || list.Items[0].ID != rel.ID {
			t.Errorf("list: %+v", list)
		}
		s.As(t, store.RoleReadonly, "GET", "/api/v1/releases/"+rel.ID, "").Want(t, http.StatusOK)
		s.As(t, store.RoleReadonly, "GET", "/api/v1/releases/nope", "").Want(t, http.StatusNotFound)

		// Agents download it with their credentials, resuming with ranges.
		id, secret := s.EnrollIn(t, s.NewSite(t).ID, "updating-01")
		cred := protocol.FormatCredential(id, secret)
		path := protocol.ReleaseFilePath + rel.ID
		dl := s.Do(t, servertest.Request{Method: "GET", Path: path, Header: http.Header{"Authorization": {cred}}})
		if dl.Status != http.StatusOK || !bytes.Equal(dl.Body, data) || dl.Header.Get("X-Content-SHA256") != rel.SHA256 {
			t.Fatalf("download: %d, %d bytes, equal %v", dl.Status, len(dl.Body), bytes.Equal(dl.Body, data))
		}
		part := s.Do(t, servertest.Request{Method: "GET", Path: path, Header: http.Header{"Authorization": {cred},
			"Range": {"bytes=1000000-"}, "If-Range": {`"` + rel.SHA256 + `"`}}})
		if part.Status != http.StatusPartialContent || !bytes.Equal(part.Body, data[1000000:]) {
			t.Fatalf("resume: %d, %d bytes", part.Status, len(part.Body))
		}
		if r := s.Do(t, servertest.Request{Method: "GET", Path: path}); r.Status != http.StatusUnauthorized {
			t.Errorf("download without credentials: %d", r.Status)
		}
		if r := s.Do(t, servertest.Request{Method: "GET", Path: protocol.ReleaseFilePath + "nope", Header: http.Header{"Authorization": {cred}}}); r.Status != http.StatusNotFound {
			t.Errorf("unknown release: %d", r.Status)
		}

		// One download at a time (MaxDownloads 1): while one is held open by
		// a reader that stopped reading, the next is told to come back.
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
		req.Header.Set("Authorization", cred)
		held, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer held.Body.Close()
		busy := s.Do(t, servertest.Request{Method: "GET", Path: path, Header: http.Header{"Authorization": {cred}, "Range": {"bytes=0-0"}}})
		if busy.Status != http.StatusServiceUnavailable || busy.Header.Get("Retry-After") == "" {
			t.Errorf("second download while one is served: %d (Retry-After %q), want 503 with Retry-After", busy.Status, busy.Header.Get("Retry-After"))
		}
		io.Copy(io.Discard, held.Body)
		held.Body.Close()
		servertest.Eventually(t, "the slot is free again", func() bool {
			r := s.Do(t, servertest.Request{Method: "GET", Path: path, Header: http.Header{"Authorization": {cred}, "Range": {"bytes=0-0"}}})
			return r.Status == http.StatusPartialContent
		})
		var audit struct {
			Items []store.AuditEntry `json:"items"`
		}
		json.Unmarshal(s.As(t, store.RoleOwner, "GET", "/api/v1/audit?action=release.publish", "").Want(t, http.StatusOK).Body, &audit)
		if len(audit.Items) != 1 || audit.Items[0].Detail["version"] != "1.2.0" {
			t.Errorf("audit: %+v", audit.Items)
		}
	})
}

func TestUpdateChannels(t *testing.T) {
	servertest.Each(t, harnessOptions, func(t *testing.T, s *servertest.Server) {
		client := s.Client(t, "Channel Co")
		site := s.Site(t, client.ID, "Main")
		id, _ := s.EnrollIn(t, site.ID, "chan-01")
		type effective struct {
			Channel, Source, SourceID, SourceName string
		}
		eff := func() effective {
			var e struct {
				Channel    string `json:"channel"`
				Source     string `json:"source"`
				SourceID   string `json:"source_id"`
				SourceName string `json:"source_name"`
			}
			json.Unmarshal(s.As(t, store.RoleReadonly, "GET", "/api/v1/agents/"+id+"/effective-channel", "").Want(t, http.StatusOK).Body, &e)
			return effective{e.Channel, e.Source, e.SourceID, e.SourceName}
		}
		if got := eff(); got != (effective{"stable", "default", "", ""}) {
			t.Fatalf("new agent: %+v, want stable from default", got)
		}
		steps := []struct {
			path, body string
			want       effective
		}{
			{"/api/v1/clients/" + client.ID + "/channel", `{"channel":"beta"}`, effective{"beta", "client", client.ID, "Channel Co"}},
			{"/api/v1/sites/" + site.ID + "/channel", `{"channel":"canary"}`, effective{"canary", "site", site.ID, "Main"}},
			{"/api/v1/agents/" + id + "/channel", `{"channel":"stable"}`, effective{"stable", "agent", id, "chan-01"}},
			{"/api/v1/agents/" + id + "/channel", `{"channel":null}`, effective{"canary", "site", site.ID, "Main"}},
			{"/api/v1/sites/" + site.ID + "/channel", `{"channel":null}`, effective{"beta", "client", client.ID, "Channel Co"}},
		}
		for _, st := range steps {
			s.As(t, store.RoleAdmin, "PATCH", st.path, st.body).Want(t, http.StatusOK)
			if got := eff(); got != st.want {
				t.Errorf("after PATCH %s %s: %+v, want %+v", st.path, st.body, got, st.want)
			}
		}
		s.As(t, store.RoleTechnician, "PATCH", "/api/v1/agents/"+id+"/channel", `{"channel":"beta"}`).Want(t, http.StatusForbidden)
		if r := s.As(t, store.RoleAdmin, "PATCH", "/api/v1/agents/"+id+"/channel", `{"channel":"Beta!"}`); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "channel") {
			t.Errorf("bad channel name: %d %s", r.Status, r.Body)
		}
		s.As(t, store.RoleAdmin, "PATCH", "/api/v1/agents/nope/channel", `{"channel":"beta"}`).Want(t, http.StatusNotFound)
		s.As(t, store.RoleReadonly, "GET", "/api/v1/agents/nope/effective-channel", "").Want(t, http.StatusNotFound)
		var audit struct {
			Items []store.AuditEntry `json:"items"`
		}
		json.Unmarshal(s.As(t, store.RoleOwner, "GET", "/api/v1/audit?action=update_channel.set", "").Want(t, http.StatusOK).Body, &audit)
		if len(audit.Items) != len(steps) {
			t.Errorf("%d audit entries, want %d", len(audit.Items), len(steps))
		}
	})
}

func TestReleaseStatus(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	key := protocol.NewReleaseKey(priv.Public().(ed25519.PublicKey))
	opts := harnessOptions
	opts.ReleaseKeys = []string{key.String()}
	servertest.Each(t, opts, func(t *testing.T, s *servertest.Server) {
		data := []byte("agent")
		body, ct := releaseUpload(t, data, map[string]string{"signature": signRelease(t, priv, "2.0.0", data)})
		res := s.Do(t, servertest.Request{Method: "POST", Path: "/api/v1/releases", Body: body, ContentType: ct, Token: s.User(t, store.RoleOwner).Token})
		rel := servertest.Decode[store.Release](t, res.Want(t, http.StatusCreated))
		base := "/api/v1/releases/" + rel.ID
		s.As(t, store.RoleTechnician, "POST", base+"/halt", "").Want(t, http.StatusForbidden)
		// An agent offered the release, that has not taken the offer yet.
		id, secret := s.EnrollIn(t, s.NewSite(t).ID, "offered-01")
		offer := func() {
			t.Helper()
			if err := s.DB().WithTx(t.Context(), func(tx *store.Tx) error {
				_, err := tx.RecordUpdateStep(t.Context(), store.AgentUpdate{AgentID: id, ReleaseID: rel.ID, FromVersion: "1.0.0", ToVersion: "2.0.0", Step: store.UpdateOffered})
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		download := func() servertest.Response {
			return s.Do(t, servertest.Request{Method: "GET", Path: protocol.ReleaseFilePath + rel.ID,
				Header: http.Header{"Authorization": {protocol.FormatCredential(id, secret)}}})
		}
		offer()
		download().Want(t, http.StatusOK)
		for _, st := range []struct{ action, want string }{{"halt", "halted"}, {"halt", "halted"}, {"resume", "active"}, {"withdraw", "withdrawn"}} {
			got := servertest.Decode[store.Release](t, s.As(t, store.RoleAdmin, "POST", base+"/"+st.action, "").Want(t, http.StatusOK))
			if got.Status != st.want {
				t.Errorf("%s: status %q, want %q", st.action, got.Status, st.want)
			}
			switch st.action {
			case "halt":
				// The halt called the offer back: its download is refused
				// as gone, which the agent takes as "cancelled".
				if step, _ := s.DB().UpdateStep(t.Context(), id, rel.ID); step != store.UpdateCancelled {
					t.Errorf("after the halt the offer is %q, want cancelled", step)
				}
				if r := download().Want(t, http.StatusGone); !strings.Contains(string(r.Body), "called back") {
					t.Errorf("download of a called-back offer: %s", r.Body)
				}
			case "resume":
				offer() // offered again once resumed: served again
				download().Want(t, http.StatusOK)
			case "withdraw":
				if r := download().Want(t, http.StatusGone); !strings.Contains(string(r.Body), "withdrawn") {
					t.Errorf("download of a withdrawn release: %s", r.Body)
				}
			}
		}
		if r := s.As(t, store.RoleAdmin, "POST", base+"/resume", ""); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "withdrawn") {
			t.Errorf("resume a withdrawn release: %d %s", r.Status, r.Body)
		}
		s.As(t, store.RoleAdmin, "POST", "/api/v1/releases/nope/halt", "").Want(t, http.StatusNotFound)
		var audit struct {
			Items []store.AuditEntry `json:"items"`
		}
		json.Unmarshal(s.As(t, store.RoleOwner, "GET", "/api/v1/audit?action=release.", "").Want(t, http.StatusOK).Body, &audit)
		if len(audit.Items) != 4 { // publish, halt, resume, withdraw (the second halt changed nothing)
			t.Errorf("%d release audit entries, want 4", len(audit.Items))
		}
	})
}

// TestKeyRotation: a key added by a statement of a configured key signs
// releases the server accepts, and offers carry the statement.
func TestKeyRotation(t *testing.T) {
	oldPriv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{21}, 32))
	newPriv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{22}, 32))
	oldKey := protocol.NewReleaseKey(oldPriv.Public().(ed25519.PublicKey))
	newKey := protocol.NewReleaseKey(newPriv.Public().(ed25519.PublicKey))
	opts := harnessOptions
	opts.ReleaseKeys = []string{oldKey.String()}
	servertest.Each(t, opts, func(t *testing.T, s *servertest.Server) {
		data := []byte("agent by the new key")
		publish := func() servertest.Response {
			body, ct := releaseUpload(t, data, map[string]string{"signature": signRelease(t, newPriv, "3.0.0", data)})
			return s.Do(t, servertest.Request{Method: "POST", Path: "/api/v1/releases", Body: body, ContentType: ct, Token: s.User(t, store.RoleAdmin).Token})
		}
		if r := publish(); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "not trusted") {
			t.Fatalf("release by an unknown key: %d %s", r.Status, r.Body)
		}
		// A statement signed by the new key itself adds nothing.
		selfSigned, _ := protocol.SignKeyStatement(newPriv, protocol.KeyStatement{Add: newKey.String()})
		if r := s.As(t, store.RoleAdmin, "POST", "/api/v1/release-keys", string(selfSigned.Encode())); r.Status != http.StatusBadRequest {
			t.Fatalf("self-signed key statement: %d %s", r.Status, r.Body)
		}
		add, _ := protocol.SignKeyStatement(oldPriv, protocol.KeyStatement{Add: newKey.String()})
		s.As(t, store.RoleTechnician, "POST", "/api/v1/release-keys", string(add.Encode())).Want(t, http.StatusForbidden)
		var keys struct {
			Keys []struct{ ID string } `json:"keys"`
		}
		json.Unmarshal(s.As(t, store.RoleAdmin, "POST", "/api/v1/release-keys", string(add.Encode())).Want(t, http.StatusOK).Body, &keys)
		if len(keys.Keys) != 2 {
			t.Fatalf("trusted keys after the statement: %+v", keys)
		}
		if r := publish(); r.Status != http.StatusCreated {
			t.Fatalf("release by the added key: %d %s", r.Status, r.Body)
		}
	})
}
