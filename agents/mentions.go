package agents

import (
	"strings"
	"unicode"
)

// MentionHandle is how an agent is @mentioned: the local part of their email address, which is
// unique enough in a support team and has no spaces ("@dewi" for dewi@shop.id).
func MentionHandle(a Agent) string {
	h, _, _ := strings.Cut(a.Email, "@")
	return strings.ToLower(h)
}

// FindMentions returns the ids of the agents @mentioned in text, in order of first mention.
// A mention is '@' at the start or after a space or punctuation, followed by a handle; an email
// address in the text ("budi@shop.id") is not a mention.
func FindMentions(text string, list []Agent) []string {
	byHandle := map[string]string{}
	for _, a := range list {
		if !a.Disabled {
			byHandle[MentionHandle(a)] = a.ID
		}
	}
	var out []string
	seen := map[string]bool{}
	rs := []rune(text)
	for i := 0; i < len(rs); i++ {
		if rs[i] != '@' || (i > 0 && !unicode.IsSpace(rs[i-1]) && !unicode.IsPunct(rs[i-1])) {
			continue
		}
		j := i + 1
		for j < len(rs) && isHandleRune(rs[j]) {
			j++
		}
		h := strings.ToLower(strings.TrimRight(string(rs[i+1:j]), "."))
		if id, ok := byHandle[h]; ok && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
		i = j - 1
	}
	return out
}

func isHandleRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '_' || r == '-' || r == '+'
}
