package i18n

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func catalog(t *testing.T) *Catalog {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBothLanguagesHaveTheSameMessages(t *testing.T) {
	c := catalog(t)
	en, id := c.MessageIDs("en"), c.MessageIDs("id")
	if len(en) < 100 {
		t.Fatalf("English catalog has %d messages; the console uses far more", len(en))
	}
	for _, m := range en {
		if !slices.Contains(id, m) {
			t.Errorf("%s is in English but not in Bahasa Indonesia", m)
		}
	}
	for _, m := range id {
		if !slices.Contains(en, m) {
			t.Errorf("%s is in Bahasa Indonesia but not in English", m)
		}
	}
}

// Every id the templates and the console ask for must exist, or agents would see raw ids.
func TestEveryMessageUsedExists(t *testing.T) {
	c := catalog(t)
	en := c.MessageIDs("en")
	used := regexp.MustCompile(`\.(?:T|F|N)\("([A-Za-z_]+)"`)
	dynamic := regexp.MustCompile(`"((?:Reason|Warn)[A-Za-z]+)"`)
	var files []string
	for _, pattern := range []string{"../templates/*.templ", "../templates/*.go", "../web/console/*.go"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 5 {
		t.Fatalf("found only %d source files to check", len(files))
	}
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_templ.go") || strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range []*regexp.Regexp{used, dynamic} {
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				id := m[1]
				if strings.HasSuffix(id, "_") {
					continue // a prefix completed at run time; checked below
				}
				seen++
				if !slices.Contains(en, id) {
					t.Errorf("%s uses message %q, which no catalog has", filepath.Base(f), id)
				}
			}
		}
	}
	if seen < 100 {
		t.Fatalf("only %d message uses found; the pattern is probably wrong", seen)
	}
	for p, vals := range map[string][]string{
		"Status_": {"open", "pending", "snoozed", "resolved"}, "Priority_": {"low", "medium", "high", "urgent"},
		"Delivery_": {"queued", "sent", "delivered", "read", "failed"}, "Presence_": {"online", "away", "offline"},
		"Role_":         {"admin", "agent"},
		"ChannelState_": {"connected", "idle", "polling", "standby", "webhook", "configured", "connecting", "error", "not_configured"},
	} {
		for _, v := range vals {
			if !slices.Contains(en, p+v) {
				t.Errorf("message %s%s is missing", p, v)
			}
		}
	}
}

func TestMessagesRenderInBothLanguages(t *testing.T) {
	c := catalog(t)
	data := map[string]any{"Name": "Dewi", "Actor": "Dewi", "To": "Budi", "Loser": "Siti", "Date": "12 Nov", "Time": "09:00",
		"Minutes": 3, "Detail": "x", "Max": 200, "Count": 2, "Reason": "r", "Author": "Dewi", "Customer": "Siti", "Kind": "Email",
		"Value": "a@b.id", "Other": "Budi", "This": "Siti", "Channel": "Email", "Action": "a", "List": "l",
		"Number": "+6281234567890", "Agent": "Dewi (201)", "Duration": "4:32", "Queue": "sales", "Caller": "Siti", "Query": "siti"}
	for _, lang := range []string{"en", "id"} {
		l := c.Localizer(lang)
		for _, id := range c.MessageIDs(lang) {
			got := l.N(id, 2, data)
			if got == "" || strings.Contains(got, "<no value>") || strings.Contains(got, "{{") {
				t.Errorf("%s %s renders as %q", lang, id, got)
			}
		}
	}
}

func TestLocalizerPicksTheAgentsLanguage(t *testing.T) {
	c := catalog(t)
	tests := []struct{ lang, want string }{
		{"en", "Sign in"}, {"id", "Masuk"}, {"id-ID", "Masuk"}, {"fr", "Sign in"}, {"", "Sign in"},
	}
	for _, tt := range tests {
		if got := c.Localizer(tt.lang).T("SignIn"); got != tt.want {
			t.Errorf("Localizer(%q).T(SignIn) = %q, want %q", tt.lang, got, tt.want)
		}
	}
	if got := c.Localizer("id").N("UnreadCount", 3, nil); got != "3 pesan belum dibaca" {
		t.Errorf("Indonesian plural = %q", got)
	}
	if got := c.Localizer("en").N("UnreadCount", 1, nil); got != "1 unread message" {
		t.Errorf("English singular = %q", got)
	}
	if got := c.Localizer("en").T("NoSuchMessage"); got != "NoSuchMessage" {
		t.Errorf("a missing id comes back as %q, want the id itself", got)
	}
}

func TestMoney(t *testing.T) {
	c := catalog(t)
	tests := []struct {
		lang     string
		minor    int64
		currency string
		want     string
	}{
		{"id", 425000000, "IDR", "Rp 4.250.000"},
		{"en", 425000000, "IDR", "Rp 4,250,000"},
		{"id", 425000050, "IDR", "Rp 4.250.000,50"},
		{"id", 0, "IDR", "Rp 0"},
		{"id", -150000, "IDR", "-Rp 1.500"},
		{"en", 1250, "USD", "$12.50"},
		{"en", 1200, "USD", "$12.00"},
		{"id", 123456789, "USD", "$1.234.567,89"},
		{"en", 1000, "JPY", "¥1,000"},
		{"en", 99, "CHF", "CHF 0.99"},
		{"en", 12345, "idr", "Rp 123.45"},
	}
	for _, tt := range tests {
		if got := c.Localizer(tt.lang).Money(tt.minor, tt.currency); got != tt.want {
			t.Errorf("%s Money(%d, %s) = %q, want %q", tt.lang, tt.minor, tt.currency, got, tt.want)
		}
	}
}

func TestMoneyRounded(t *testing.T) {
	c := catalog(t)
	tests := []struct {
		lang     string
		minor    int64
		currency string
		want     string
	}{
		{"id", 44306250, "IDR", "Rp 443.063"},
		{"id", 44306249, "IDR", "Rp 443.062"},
		{"id", -44306250, "IDR", "-Rp 443.063"},
		{"en", 1249, "USD", "$12.49"},
		{"en", 1000, "JPY", "¥1,000"},
	}
	for _, tt := range tests {
		if got := c.Localizer(tt.lang).MoneyRounded(tt.minor, tt.currency); got != tt.want {
			t.Errorf("%s MoneyRounded(%d, %s) = %q, want %q", tt.lang, tt.minor, tt.currency, got, tt.want)
		}
	}
}

func TestRelativeAndAbsoluteTimes(t *testing.T) {
	c := catalog(t)
	jkt, err := time.LoadLocation("Asia/Jakarta")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC) // 09:00 in Jakarta
	tests := []struct {
		lang string
		ago  time.Duration
		want string
	}{
		{"en", 20 * time.Second, "now"},
		{"en", 2 * time.Minute, "2m"},
		{"id", 2 * time.Minute, "2mnt"},
		{"en", 3 * time.Hour, "3h"},
		{"id", 3 * time.Hour, "3j"},
		{"en", 50 * time.Hour, "2d"},
		{"en", 12 * 24 * time.Hour, "12 Nov"},
		{"id", 40 * 24 * time.Hour, "15 Okt"},
		{"en", 400 * 24 * time.Hour, "20 Oct 2025"},
		{"en", -time.Minute, "now"}, // a clock a little ahead is not "in the future"
	}
	for _, tt := range tests {
		if got := c.Localizer(tt.lang).Relative(now.Add(-tt.ago), now, jkt); got != tt.want {
			t.Errorf("%s Relative(-%s) = %q, want %q", tt.lang, tt.ago, got, tt.want)
		}
	}
	if got := c.Localizer("id").Absolute(now, jkt); got != "Sel 24 Nov 2026, 09:00 WIB" {
		t.Errorf("Absolute in Jakarta = %q", got)
	}
	// Just after midnight UTC is already the next day in Jakarta.
	if got := c.Localizer("en").Day(time.Date(2026, 11, 23, 18, 30, 0, 0, time.UTC), now, jkt); got != "24 Nov" {
		t.Errorf("Day in Jakarta = %q, want 24 Nov", got)
	}
}
