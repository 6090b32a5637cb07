package config_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/config"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatalf("Load with no variables: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", c.Listen, "127.0.0.1:8080"},
		{"data dir", c.DataDir, "./data"},
		{"mongodb uri", c.MongoDBURI, ""},
		{"store path", c.StorePath(), filepath.Join("data", "serambi.db")},
		{"region", c.DefaultRegion, "ID"},
		{"base url", c.BaseURL, "http://127.0.0.1:8080"},
		{"log level", c.LogLevel, slog.LevelInfo},
		{"log format", c.LogFormat, "json"},
		{"max body", c.MaxBodyBytes, int64(1 << 20)},
		{"max attachment", c.MaxAttachmentBytes, int64(25 << 20)},
		{"outbox attempts", c.OutboxMaxAttempts, 8},
		{"shutdown timeout", c.ShutdownTimeout, 30 * time.Second},
		{"callback url", c.APICallbackURL, ""},
		{"nats url: the in-process bus", c.NATSURL, ""},
		{"nats subject", c.NATSSubject, "serambi.events"},
		{"secret key unset until EnsureSecretKey", len(c.SecretKey), 0},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if c.InstanceID == "" {
		t.Error("instance id is empty; want hostname plus a random suffix")
	}
	if d, _ := config.Load(env(nil)); d.InstanceID == c.InstanceID {
		t.Errorf("two loads gave the same default instance id %q; want a random suffix", c.InstanceID)
	}
}

func TestLoadValues(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(c config.Config) (got, want any)
	}{
		{"listen everywhere gives a localhost base url", map[string]string{"SERAMBI_LISTEN": ":9090"},
			func(c config.Config) (any, any) { return c.BaseURL, "http://localhost:9090" }},
		{"base url loses its trailing slash", map[string]string{"SERAMBI_BASE_URL": "https://help.example.com/"},
			func(c config.Config) (any, any) { return c.BaseURL, "https://help.example.com" }},
		{"region is upper-cased", map[string]string{"SERAMBI_DEFAULT_REGION": "my"},
			func(c config.Config) (any, any) { return c.DefaultRegion, "MY" }},
		{"sizes take suffixes", map[string]string{"SERAMBI_MAX_ATTACHMENT_BYTES": "5MiB"},
			func(c config.Config) (any, any) { return c.MaxAttachmentBytes, int64(5 << 20) }},
		{"plain byte counts", map[string]string{"SERAMBI_MAX_BODY_BYTES": "2048"},
			func(c config.Config) (any, any) { return c.MaxBodyBytes, int64(2048) }},
		{"log level debug", map[string]string{"SERAMBI_LOG_LEVEL": "debug"},
			func(c config.Config) (any, any) { return c.LogLevel, slog.LevelDebug }},
		{"shutdown timeout", map[string]string{"SERAMBI_SHUTDOWN_TIMEOUT": "5s"},
			func(c config.Config) (any, any) { return c.ShutdownTimeout, 5 * time.Second }},
		{"instance id kept", map[string]string{"SERAMBI_INSTANCE_ID": "node-1"},
			func(c config.Config) (any, any) { return c.InstanceID, "node-1" }},
		{"secret key from the environment", map[string]string{"SERAMBI_SECRET_KEY": strings.Repeat("k", 40)},
			func(c config.Config) (any, any) { return string(c.SecretKey), strings.Repeat("k", 40) }},
		{"callback with its secret", map[string]string{"SERAMBI_API_CALLBACK_URL": "https://shop.example/hook", "SERAMBI_API_CALLBACK_SECRET": "0123456789abcdef"},
			func(c config.Config) (any, any) { return c.APICallbackURL, "https://shop.example/hook" }},
		{"nats url selects the NATS bus", map[string]string{"SERAMBI_NATS_URL": "nats://nats:4222"},
			func(c config.Config) (any, any) { return c.NATSURL, "nats://nats:4222" }},
		{"nats url: servers with credentials and TLS", map[string]string{"SERAMBI_NATS_URL": "nats://u:p@n1:4222, tls://tok@n2,nats://n3"},
			func(c config.Config) (any, any) { return c.NATSURL, "nats://u:p@n1:4222, tls://tok@n2,nats://n3" }},
		{"nats subject", map[string]string{"SERAMBI_NATS_SUBJECT": "shop-2.serambi.events"},
			func(c config.Config) (any, any) { return c.NATSSubject, "shop-2.serambi.events" }},
		{"mongodb uri selects mongo", map[string]string{"SERAMBI_MONGODB_URI": "mongodb://db:27017/serambi"},
			func(c config.Config) (any, any) { return c.MongoDBURI, "mongodb://db:27017/serambi" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got, want := tt.check(c); got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantVar  string
		wantText string
		noLeak   string // a secret value that must not appear in the error
	}{
		{"listen without port", map[string]string{"SERAMBI_LISTEN": "localhost"}, "SERAMBI_LISTEN", "host:port", ""},
		{"relative base url", map[string]string{"SERAMBI_BASE_URL": "support.example.com"}, "SERAMBI_BASE_URL", "absolute", ""},
		{"base url with ftp", map[string]string{"SERAMBI_BASE_URL": "ftp://x.example"}, "SERAMBI_BASE_URL", "http", ""},
		{"unknown region", map[string]string{"SERAMBI_DEFAULT_REGION": "XX"}, "SERAMBI_DEFAULT_REGION", "ISO 3166", ""},
		{"region too long", map[string]string{"SERAMBI_DEFAULT_REGION": "IDN"}, "SERAMBI_DEFAULT_REGION", "two-letter", ""},
		{"log level", map[string]string{"SERAMBI_LOG_LEVEL": "loud"}, "SERAMBI_LOG_LEVEL", "debug, info", ""},
		{"log format", map[string]string{"SERAMBI_LOG_FORMAT": "xml"}, "SERAMBI_LOG_FORMAT", "json or text", ""},
		{"body size not a number", map[string]string{"SERAMBI_MAX_BODY_BYTES": "lots"}, "SERAMBI_MAX_BODY_BYTES", "whole number", ""},
		{"body size too small", map[string]string{"SERAMBI_MAX_BODY_BYTES": "10"}, "SERAMBI_MAX_BODY_BYTES", "from 1024", ""},
		{"attachment size negative", map[string]string{"SERAMBI_MAX_ATTACHMENT_BYTES": "-5"}, "SERAMBI_MAX_ATTACHMENT_BYTES", "whole number", ""},
		{"outbox attempts zero", map[string]string{"SERAMBI_OUTBOX_MAX_ATTEMPTS": "0"}, "SERAMBI_OUTBOX_MAX_ATTEMPTS", "from 1 to 100", ""},
		{"shutdown timeout not a duration", map[string]string{"SERAMBI_SHUTDOWN_TIMEOUT": "30"}, "SERAMBI_SHUTDOWN_TIMEOUT", "duration", ""},
		{"callback url relative", map[string]string{"SERAMBI_API_CALLBACK_URL": "/hook", "SERAMBI_API_CALLBACK_SECRET": "0123456789abcdef"}, "SERAMBI_API_CALLBACK_URL", "absolute", ""},
		{"callback without secret", map[string]string{"SERAMBI_API_CALLBACK_URL": "https://shop.example/hook"}, "SERAMBI_API_CALLBACK_SECRET", "at least 16", ""},
		{"callback secret too short", map[string]string{"SERAMBI_API_CALLBACK_URL": "https://shop.example/hook", "SERAMBI_API_CALLBACK_SECRET": "hunter2"}, "SERAMBI_API_CALLBACK_SECRET", "at least 16", "hunter2"},
		{"callback secret without url", map[string]string{"SERAMBI_API_CALLBACK_SECRET": "0123456789abcdef"}, "SERAMBI_API_CALLBACK_SECRET", "only together", "0123456789abcdef"},
		{"secret key too short", map[string]string{"SERAMBI_SECRET_KEY": "short-secret"}, "SERAMBI_SECRET_KEY", "at least 32", "short-secret"},
		{"mongodb uri scheme", map[string]string{"SERAMBI_MONGODB_URI": "postgres://u:pw@db"}, "SERAMBI_MONGODB_URI", "mongodb://", "pw@db"},
		{"nats url with another scheme", map[string]string{"SERAMBI_NATS_URL": "http://user:hunter2pw@nats:4222"}, "SERAMBI_NATS_URL", "nats or tls", "hunter2pw"},
		{"nats url without scheme", map[string]string{"SERAMBI_NATS_URL": "user:hunter2pw@nats:4222"}, "SERAMBI_NATS_URL", "not a URL", "hunter2pw"},
		{"nats url: one bad server in a list", map[string]string{"SERAMBI_NATS_URL": "nats://tok3n-xyz@n1:4222,ws://n2"}, "SERAMBI_NATS_URL", "server 2 of 2", "tok3n-xyz"},
		{"nats url: an empty entry", map[string]string{"SERAMBI_NATS_URL": "nats://n1,,nats://n2"}, "SERAMBI_NATS_URL", "server 2 of 3: empty", ""},
		{"nats url without host", map[string]string{"SERAMBI_NATS_URL": "nats://:4222"}, "SERAMBI_NATS_URL", "no host", ""},
		{"nats url with a bad port", map[string]string{"SERAMBI_NATS_URL": "nats://u:hunter2pw@n1:99999"}, "SERAMBI_NATS_URL", "port", "hunter2pw"},
		{"nats subject with a wildcard", map[string]string{"SERAMBI_NATS_SUBJECT": "serambi.*"}, "SERAMBI_NATS_SUBJECT", "without spaces or wildcards", ""},
		{"nats subject with a full wildcard", map[string]string{"SERAMBI_NATS_SUBJECT": "serambi.>"}, "SERAMBI_NATS_SUBJECT", "wildcards", ""},
		{"nats subject with an empty token", map[string]string{"SERAMBI_NATS_SUBJECT": "serambi..events"}, "SERAMBI_NATS_SUBJECT", "dot-separated", ""},
		{"nats subject ending in a dot", map[string]string{"SERAMBI_NATS_SUBJECT": "serambi."}, "SERAMBI_NATS_SUBJECT", "dot-separated", ""},
		{"nats subject with a space", map[string]string{"SERAMBI_NATS_SUBJECT": "serambi events"}, "SERAMBI_NATS_SUBJECT", "without spaces", ""},
		{"instance id with spaces", map[string]string{"SERAMBI_INSTANCE_ID": "node 1"}, "SERAMBI_INSTANCE_ID", "without spaces", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(env(tt.env))
			if err == nil {
				t.Fatalf("Load accepted %v; want an error naming %s", tt.env, tt.wantVar)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantVar) || !strings.Contains(msg, tt.wantText) {
				t.Errorf("error %q; want it to name %s and say %q", msg, tt.wantVar, tt.wantText)
			}
			if tt.noLeak != "" && strings.Contains(msg, tt.noLeak) {
				t.Errorf("error %q repeats the secret value", msg)
			}
		})
	}
}

func TestLoadReportsEveryBadVariable(t *testing.T) {
	_, err := config.Load(env(map[string]string{"SERAMBI_LISTEN": "nope", "SERAMBI_LOG_FORMAT": "xml"}))
	if err == nil || !strings.Contains(err.Error(), "SERAMBI_LISTEN") || !strings.Contains(err.Error(), "SERAMBI_LOG_FORMAT") {
		t.Fatalf("error %v; want both bad variables named at once", err)
	}
}

func TestEnsureSecretKeySurvivesRestarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, err := config.Load(env(map[string]string{"SERAMBI_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if err := first.EnsureSecretKey(); err != nil {
		t.Fatalf("EnsureSecretKey on a new data dir: %v", err)
	}
	if len(first.SecretKey) < 32 {
		t.Fatalf("generated key has %d bytes; want at least 32", len(first.SecretKey))
	}
	st, err := os.Stat(filepath.Join(dir, config.SecretKeyFile))
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		t.Errorf("key file mode %v; want it readable by the owner only", st.Mode().Perm())
	}
	second, _ := config.Load(env(map[string]string{"SERAMBI_DATA_DIR": dir}))
	if err := second.EnsureSecretKey(); err != nil {
		t.Fatal(err)
	}
	if string(second.SecretKey) != string(first.SecretKey) {
		t.Error("a restart generated a new secret key; want the stored one, so signed URLs stay valid")
	}
	given, _ := config.Load(env(map[string]string{"SERAMBI_DATA_DIR": dir, "SERAMBI_SECRET_KEY": strings.Repeat("z", 32)}))
	if err := given.EnsureSecretKey(); err != nil {
		t.Fatal(err)
	}
	if string(given.SecretKey) != strings.Repeat("z", 32) {
		t.Error("SERAMBI_SECRET_KEY was overridden by the stored key")
	}
}

func TestEnsureSecretKeyRejectsATruncatedFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, config.SecretKeyFile), []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := config.Load(env(map[string]string{"SERAMBI_DATA_DIR": dir}))
	if err := c.EnsureSecretKey(); err == nil || !strings.Contains(err.Error(), "SERAMBI_SECRET_KEY") {
		t.Fatalf("EnsureSecretKey with a 3-byte key file: %v; want an error that says how to fix it", err)
	}
}

func TestBound(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		addr string
		want string
	}{
		{"a derived base url follows the bound port", map[string]string{"SERAMBI_LISTEN": "127.0.0.1:0"}, "127.0.0.1:41234", "http://127.0.0.1:41234"},
		{"a wildcard address is reached on localhost", map[string]string{"SERAMBI_LISTEN": ":0"}, "[::]:41234", "http://localhost:41234"},
		{"a base url that was set stays", map[string]string{"SERAMBI_LISTEN": "127.0.0.1:0", "SERAMBI_BASE_URL": "https://help.example"}, "127.0.0.1:41234", "https://help.example"},
	}
	for _, tt := range tests {
		c, err := config.Load(env(tt.env))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Bound(tt.addr).BaseURL; got != tt.want {
			t.Errorf("%s: BaseURL %q, want %q", tt.name, got, tt.want)
		}
	}
}
