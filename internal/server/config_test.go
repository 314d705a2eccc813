package server

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestConfigValidate(t *testing.T) {
	const pg = "postgres://steward@db.example:5432/steward"
	dir := filepath.Join("var", "lib", "steward")
	tests := []struct {
		name    string
		in      Config
		want    Config // compared only when wantErr is empty
		wantErr string // a substring naming the bad setting
	}{
		{
			name: "defaults from listen and data dir",
			in:   Config{Listen: "127.0.0.1:8080", DataDir: dir},
			want: Config{Listen: "127.0.0.1:8080", DataDir: dir, PublicURL: "http://127.0.0.1:8080",
				AgentDir: filepath.Join(dir, "agents"), Heartbeat: 30 * time.Second},
		},
		{
			name: "empty host becomes localhost",
			in:   Config{Listen: ":8080", DataDir: dir},
			want: Config{Listen: ":8080", DataDir: dir, PublicURL: "http://localhost:8080",
				AgentDir: filepath.Join(dir, "agents"), Heartbeat: 30 * time.Second},
		},
		{
			name: "IPv4 wildcard becomes localhost",
			in:   Config{Listen: "0.0.0.0:9000", DataDir: dir},
			want: Config{Listen: "0.0.0.0:9000", DataDir: dir, PublicURL: "http://localhost:9000",
				AgentDir: filepath.Join(dir, "agents"), Heartbeat: 30 * time.Second},
		},
		{
			name: "IPv6 wildcard becomes localhost",
			in:   Config{Listen: "[::]:9000", DataDir: dir},
			want: Config{Listen: "[::]:9000", DataDir: dir, PublicURL: "http://localhost:9000",
				AgentDir: filepath.Join(dir, "agents"), Heartbeat: 30 * time.Second},
		},
		{
			name: "IPv6 host is bracketed",
			in:   Config{Listen: "[::1]:9000", DataDir: dir},
			want: Config{Listen: "[::1]:9000", DataDir: dir, PublicURL: "http://[::1]:9000",
				AgentDir: filepath.Join(dir, "agents"), Heartbeat: 30 * time.Second},
		},
		{
			name: "public URL trailing slashes trimmed",
			in:   Config{Listen: ":8080", DataDir: dir, PublicURL: "https://rmm.example.com//"},
			want: Config{Listen: ":8080", DataDir: dir, PublicURL: "https://rmm.example.com",
				AgentDir: filepath.Join(dir, "agents"), Heartbeat: 30 * time.Second},
		},
		{
			name: "public URL with path kept",
			in:   Config{Listen: ":8080", DataDir: dir, PublicURL: "https://example.com/rmm/"},
			want: Config{Listen: ":8080", DataDir: dir, PublicURL: "https://example.com/rmm",
				AgentDir: filepath.Join(dir, "agents"), Heartbeat: 30 * time.Second},
		},
		{
			name: "explicit agent dir and heartbeat kept",
			in:   Config{Listen: ":8080", DataDir: dir, AgentDir: "/srv/agents", Heartbeat: time.Minute},
			want: Config{Listen: ":8080", DataDir: dir, PublicURL: "http://localhost:8080",
				AgentDir: "/srv/agents", Heartbeat: time.Minute},
		},
		{
			name: "database URL without data dir has no agent dir default",
			in:   Config{Listen: ":8080", DatabaseURL: pg},
			want: Config{Listen: ":8080", DatabaseURL: pg, PublicURL: "http://localhost:8080", Heartbeat: 30 * time.Second},
		},
		{
			name: "postgresql scheme accepted",
			in:   Config{Listen: ":8080", DatabaseURL: "postgresql://db/steward"},
			want: Config{Listen: ":8080", DatabaseURL: "postgresql://db/steward", PublicURL: "http://localhost:8080", Heartbeat: 30 * time.Second},
		},
		{
			name: "nats with postgres",
			in:   Config{Listen: ":8080", DatabaseURL: pg, NATSURL: "nats://bus:4222"},
			want: Config{Listen: ":8080", DatabaseURL: pg, NATSURL: "nats://bus:4222", PublicURL: "http://localhost:8080", Heartbeat: 30 * time.Second},
		},
		{
			name: "tls nats with postgres",
			in:   Config{Listen: ":8080", DatabaseURL: pg, NATSURL: "tls://bus:4222"},
			want: Config{Listen: ":8080", DatabaseURL: pg, NATSURL: "tls://bus:4222", PublicURL: "http://localhost:8080", Heartbeat: 30 * time.Second},
		},
		{
			name: "heartbeat lower bound",
			in:   Config{Listen: ":8080", DataDir: dir, Heartbeat: 200 * time.Millisecond},
			want: Config{Listen: ":8080", DataDir: dir, PublicURL: "http://localhost:8080",
				AgentDir: filepath.Join(dir, "agents"), Heartbeat: 200 * time.Millisecond},
		},
		{
			name: "heartbeat upper bound",
			in:   Config{Listen: ":8080", DataDir: dir, Heartbeat: 10 * time.Minute},
			want: Config{Listen: ":8080", DataDir: dir, PublicURL: "http://localhost:8080",
				AgentDir: filepath.Join(dir, "agents"), Heartbeat: 10 * time.Minute},
		},

		{name: "empty listen", in: Config{DataDir: dir}, wantErr: "--listen"},
		{name: "listen without port", in: Config{Listen: "localhost", DataDir: dir}, wantErr: "--listen"},
		{name: "no data dir or database", in: Config{Listen: ":8080"}, wantErr: "--data-dir"},
		{name: "nats with sqlite", in: Config{Listen: ":8080", DataDir: dir, NATSURL: "nats://bus:4222"}, wantErr: "--nats-url"},
		{name: "nats http scheme", in: Config{Listen: ":8080", DatabaseURL: pg, NATSURL: "http://bus:4222"}, wantErr: "--nats-url"},
		{name: "nats without host", in: Config{Listen: ":8080", DatabaseURL: pg, NATSURL: "nats://"}, wantErr: "--nats-url"},
		{name: "nats not a URL", in: Config{Listen: ":8080", DatabaseURL: pg, NATSURL: "bus:4222"}, wantErr: "--nats-url"},
		{name: "mysql database", in: Config{Listen: ":8080", DatabaseURL: "mysql://db/steward"}, wantErr: "--database-url"},
		{name: "public URL ftp", in: Config{Listen: ":8080", DataDir: dir, PublicURL: "ftp://example.com"}, wantErr: "--public-url"},
		{name: "public URL without host", in: Config{Listen: ":8080", DataDir: dir, PublicURL: "https://"}, wantErr: "--public-url"},
		{name: "public URL relative", in: Config{Listen: ":8080", DataDir: dir, PublicURL: "rmm.example.com"}, wantErr: "--public-url"},
		{name: "heartbeat too short", in: Config{Listen: ":8080", DataDir: dir, Heartbeat: 199 * time.Millisecond}, wantErr: "--heartbeat"},
		{name: "heartbeat too long", in: Config{Listen: ":8080", DataDir: dir, Heartbeat: 10*time.Minute + time.Second}, wantErr: "--heartbeat"},
		{name: "heartbeat negative", in: Config{Listen: ":8080", DataDir: dir, Heartbeat: -time.Second}, wantErr: "--heartbeat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in
			err := got.Validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Validate(%+v) = %v, want an error naming %s", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate(%+v) = %v, want nil", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate(%+v) config mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestConfigValidateNATSNeedsPostgresExplains(t *testing.T) {
	c := Config{Listen: ":8080", DataDir: t.TempDir(), NATSURL: "nats://127.0.0.1:4222"}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want an error for --nats-url with SQLite")
	}
	for _, want := range []string{"--database-url", "one replica only"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, want it to mention %q", err, want)
		}
	}
}
