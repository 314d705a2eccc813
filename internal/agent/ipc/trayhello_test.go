package ipc

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeTrayHello(t *testing.T) {
	tests := []struct {
		params  string
		want    TrayHelloArgs
		wantErr string
	}{
		{params: `{"version":"1.2.0","session":"2","pid":4242}`, want: TrayHelloArgs{Version: "1.2.0", Session: "2", PID: 4242}},
		{params: `{"version":"1.2.0-beta.1+dev"}`, want: TrayHelloArgs{Version: "1.2.0-beta.1+dev"}},
		{params: `{"version":"1.2.0","session":"seat0 :0 ü"}`, want: TrayHelloArgs{Version: "1.2.0", Session: "seat0 :0 ü"}},
		{params: `{"version":"1.2.0","newer_field":true}`, want: TrayHelloArgs{Version: "1.2.0"}},
		{params: ``, wantErr: "params: missing"},
		{params: `{}`, wantErr: "version:"},
		{params: `{"version":"1.2 0"}`, wantErr: "version:"},
		{params: `{"version":"` + strings.Repeat("1", 65) + `"}`, wantErr: "version:"},
		{params: `{"version":"1.2.0","session":"a\nb"}`, wantErr: "session:"},
		{params: `{"version":"1.2.0","session":"` + strings.Repeat("s", 65) + `"}`, wantErr: "session:"},
		{params: `{"version":"1.2.0","pid":-1}`, wantErr: "pid -1"},
		{params: `{"version":"1.2.0","pid":4294967296}`, wantErr: "pid"},
		{params: `{"version":1}`, wantErr: "params:"},
		{params: `[]`, wantErr: "params:"},
	}
	for _, tt := range tests {
		t.Run(tt.params, func(t *testing.T) {
			got, err := DecodeTrayHello(json.RawMessage(tt.params))
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("DecodeTrayHello(%s) = %+v, %v; want a bad request about %q", tt.params, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeTrayHello(%s): %v", tt.params, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DecodeTrayHello(%s) (-want +got):\n%s", tt.params, diff)
			}
		})
	}
}

// FuzzDecodeTrayHello: whatever a local user sends, what is accepted keeps
// the bounds the agent stores and reports to the server.
func FuzzDecodeTrayHello(f *testing.F) {
	for _, s := range []string{
		`{"version":"1.2.0","session":"2","pid":4242}`,
		`{"version":"1.2.0","session":"\u0085"}`,
		`{"version":"\u00e9"}`,
		"{\"version\":\"1\",\"session\":\"\xff\"}",
		`{"version":"1","pid":1e3}`,
		`{"version":"1"} {}`,
		``, `null`, `{}`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeTrayHello(b)
		if err != nil {
			if a != (TrayHelloArgs{}) {
				t.Fatalf("DecodeTrayHello returned %+v with error %v", a, err)
			}
			return
		}
		if a.Version == "" || len(a.Version) > maxTrayVersionLen {
			t.Fatalf("accepted version %q", a.Version)
		}
		for i := 0; i < len(a.Version); i++ {
			if c := a.Version[i]; c <= ' ' || c >= 0x7f {
				t.Fatalf("accepted version %q with byte %#x", a.Version, c)
			}
		}
		if len(a.Session) > maxTraySessionLen || !utf8.ValidString(a.Session) || strings.ContainsFunc(a.Session, unicode.IsControl) {
			t.Fatalf("accepted session %q", a.Session)
		}
		if a.PID < 0 || a.PID > 1<<31-1 {
			t.Fatalf("accepted pid %d", a.PID)
		}
	})
}
