package telegramfake

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// ParseMarkdownV2 checks text against the MarkdownV2 rules of the Bot API documentation
// (https://core.telegram.org/bots/api#markdownv2-style) and returns the text a user would see.
// Like Telegram it refuses a reserved character that is not escaped and an entity that is not
// closed, with Telegram's wording.
func ParseMarkdownV2(s string) (string, error) {
	var out strings.Builder
	var open []string // entity markers waiting for their end
	toggle := func(marker string) {
		if n := len(open); n > 0 && open[n-1] == marker {
			open = open[:n-1]
			return
		}
		open = append(open, marker)
	}
	lineStart := true
	for i := 0; i < len(s); {
		c := s[i]
		atLineStart := lineStart
		lineStart = c == '\n'
		switch c {
		case '\\':
			r, size := utf8.DecodeRuneInString(s[i+1:])
			if i+1 >= len(s) || r < 1 || r > 126 {
				return "", reserved('\\')
			}
			out.WriteRune(r)
			i += 1 + size
			continue
		case '*', '~':
			toggle(string(c))
		case '_':
			if strings.HasPrefix(s[i:], "__") {
				toggle("__")
				i += 2
				continue
			}
			toggle("_")
		case '|':
			if !strings.HasPrefix(s[i:], "||") {
				return "", reserved(c)
			}
			toggle("||")
			i += 2
			continue
		case '`':
			fence := "`"
			if strings.HasPrefix(s[i:], "```") {
				fence = "```"
			}
			body, n, ok := untilUnescaped(s[i+len(fence):], fence)
			if !ok {
				return "", fmt.Errorf("Can't find end of %s entity at byte offset %d", map[string]string{"`": "Code", "```": "Pre"}[fence], i)
			}
			if fence == "```" {
				// The first line of a pre block may name its language.
				if lang, rest, found := strings.Cut(body, "\n"); found && !strings.ContainsAny(lang, " \t") {
					body = rest
				}
			}
			out.WriteString(body)
			i += len(fence) + n + len(fence)
			continue
		case '!', '[':
			start := i
			if c == '!' {
				if !strings.HasPrefix(s[i:], "![") {
					return "", reserved(c)
				}
				i++
			}
			text, n, ok := untilUnescaped(s[i+1:], "]")
			if !ok {
				return "", fmt.Errorf("Can't find end of TextUrl entity at byte offset %d", start)
			}
			i += 1 + n + 1
			if !strings.HasPrefix(s[i:], "(") {
				return "", reserved('[')
			}
			_, n, ok = untilUnescaped(s[i+1:], ")")
			if !ok {
				return "", fmt.Errorf("Can't find end of a URL at byte offset %d", i)
			}
			i += 1 + n + 1
			inner, err := ParseMarkdownV2(text)
			if err != nil {
				return "", err
			}
			out.WriteString(inner)
			continue
		case '>':
			if !atLineStart {
				return "", reserved(c)
			}
		case ']', '(', ')', '#', '+', '-', '=', '{', '}', '.':
			return "", reserved(c)
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			out.WriteRune(r)
			i += size
			continue
		}
		i++
	}
	if len(open) > 0 {
		names := map[string]string{"*": "Bold", "_": "Italic", "__": "Underline", "~": "Strikethrough", "||": "Spoiler"}
		return "", fmt.Errorf("Can't find end of %s entity", names[open[len(open)-1]])
	}
	return out.String(), nil
}

// untilUnescaped returns s up to the first unescaped end, with escapes resolved, and how many
// bytes of s that took.
func untilUnescaped(s, end string) (string, int, bool) {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '\\' && i+1 < len(s) {
			r, size := utf8.DecodeRuneInString(s[i+1:])
			b.WriteRune(r)
			i += 1 + size
			continue
		}
		if strings.HasPrefix(s[i:], end) {
			return b.String(), i, true
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += size
	}
	return "", 0, false
}

func reserved(c byte) error {
	return fmt.Errorf("Character '%c' is reserved and must be escaped with the preceding '\\'", c)
}
