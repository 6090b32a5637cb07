package telegram

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// markdownV2Reserved are the characters MarkdownV2 gives a meaning to outside entities; each
// must be escaped with a backslash to appear as itself. The backslash is one of them: the
// library's EscapeText leaves it alone, so "C:\new_file" would lose its backslash and turn
// "\_" into an escaped backslash followed by an unclosed italic, which Telegram refuses.
const markdownV2Reserved = "_*[]()~`>#+-=|{}.!\\"

// EscapeMarkdownV2 returns text that Telegram's MarkdownV2 parse mode shows exactly as text.
func EscapeMarkdownV2(text string) string {
	var b strings.Builder
	b.Grow(len(text) + len(text)/8)
	for _, r := range text {
		if r < 0x80 && strings.ContainsRune(markdownV2Reserved, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Telegram's limits, counted in UTF-16 code units after entity parsing, i.e. on the unescaped text.
const (
	maxTextUnits    = 4096
	maxCaptionUnits = 1024
)

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// splitText cuts text into pieces Telegram accepts as one message each, preferring to cut after a
// newline, then after a space, and never inside a character.
func splitText(text string, limit int) []string {
	var out []string
	for utf16Len(text) > limit {
		units, cut, lastNL, lastSpace := 0, 0, -1, -1
		for i := 0; i < len(text); {
			r, size := utf8.DecodeRuneInString(text[i:])
			n := utf16.RuneLen(r)
			if units+n > limit {
				break
			}
			units += n
			i += size
			cut = i
			switch r {
			case '\n':
				lastNL = cut
			case ' ':
				lastSpace = cut
			}
		}
		switch {
		case lastNL > limit/2:
			cut = lastNL
		case lastSpace > limit/2:
			cut = lastSpace
		}
		out = append(out, text[:cut])
		text = text[cut:]
	}
	if strings.TrimSpace(text) != "" || len(out) == 0 {
		out = append(out, text)
	}
	return out
}
