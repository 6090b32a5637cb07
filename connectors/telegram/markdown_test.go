package telegram

import (
	"strings"
	"testing"
	"unicode/utf8"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/serambi/serambi/connectors/telegram/telegramfake"
)

// TestEscapeMarkdownV2 checks the escaped text against the fake's MarkdownV2 parser, which
// refuses what Telegram refuses: whatever an agent types must come out exactly as typed.
func TestEscapeMarkdownV2(t *testing.T) {
	texts := []string{
		"Harga Rp 150.000 (diskon 10%)!",
		"*bold?* _italic?_ __under__ ~strike~ ||spoiler|| `code` ```pre```",
		"[link](https://example.com) ![emoji](tg://emoji?id=1)",
		"> quoted\n>> nested # heading + plus - minus = equals | pipe {braces}",
		`C:\new_folder\file.txt and a trailing backslash \`,
		`already escaped \* \_ \\`,
		"emoji 👍🏽 and 中文 and a tab\tand\nnew lines",
	}
	for _, text := range texts {
		got, err := telegramfake.ParseMarkdownV2(EscapeMarkdownV2(text))
		if err != nil {
			t.Errorf("Telegram would refuse %q: %v", text, err)
			continue
		}
		if got != text {
			t.Errorf("shown as %q, want %q", got, text)
		}
	}
}

// TestLibraryEscapeIsNotEnough records why the library's EscapeText is not used: it leaves
// backslashes alone, so a Windows path loses its backslashes or breaks the parse.
func TestLibraryEscapeIsNotEnough(t *testing.T) {
	text := `C:\new_folder`
	got, err := telegramfake.ParseMarkdownV2(tgbotapi.EscapeText(tgbotapi.ModeMarkdownV2, text))
	if err == nil && got == text {
		t.Fatalf("the library's escaping now round-trips %q; EscapeMarkdownV2 could be replaced by it", text)
	}
}

func TestParseMarkdownV2RefusesUnescapedText(t *testing.T) {
	for _, bad := range []string{"1.5", "a-b", "(x)", "*open bold", "_open", "wait!", "x > y", `end\`} {
		if _, err := telegramfake.ParseMarkdownV2(bad); err == nil {
			t.Errorf("%q was accepted; Telegram refuses it", bad)
		}
	}
	for in, want := range map[string]string{"*bold* text": "bold text", "`a.b`": "a.b", "[x](http://a.b/c)": "x", ">quote": "quote"} {
		if got, err := telegramfake.ParseMarkdownV2(in); err != nil || got != want {
			t.Errorf("%q parsed to %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestSplitText(t *testing.T) {
	long := strings.Repeat("kata ", 2000) // 10,000 characters
	emoji := strings.Repeat("😀", 3000)    // 6,000 UTF-16 units
	tests := []struct {
		name, text string
		pieces     int
	}{
		{"short", "halo", 1},
		{"exactly the limit", strings.Repeat("a", maxTextUnits), 1},
		{"one over", strings.Repeat("a", maxTextUnits+1), 2},
		{"words", long, 3},
		{"astral characters count twice", emoji, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parts := splitText(tc.text, maxTextUnits)
			if len(parts) != tc.pieces {
				t.Fatalf("%d pieces, want %d", len(parts), tc.pieces)
			}
			if strings.Join(parts, "") != tc.text {
				t.Fatal("pieces do not add up to the text")
			}
			for _, p := range parts {
				if utf16Len(p) > maxTextUnits || !utf8.ValidString(p) {
					t.Fatalf("piece of %d units (valid UTF-8: %v)", utf16Len(p), utf8.ValidString(p))
				}
			}
		})
	}
	if parts := splitText(long, maxTextUnits); !strings.HasSuffix(parts[0], " ") {
		t.Errorf("cut inside a word: %q", parts[0][len(parts[0])-10:])
	}
}
