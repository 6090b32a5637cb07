package email

import (
	"regexp"
	"strings"
)

// attribution lines that start quoted history in replies, in the clients' many languages:
// "On Mon, 3 Jun 2024 at 10:00, Siti <siti@example.com> wrote:", "Am ... schrieb ...:",
// "Pada ... menulis:", "2024年6月3日(月) 10:00 Siti <siti@example.com>:", Outlook's "-----Original
// Message-----" and "From: ... / Sent: ..." header blocks.
var attributionLine = []*regexp.Regexp{
	regexp.MustCompile(`(?i)^on\s.{4,300}\swrote:\s*$`),
	regexp.MustCompile(`(?i)^am\s.{4,300}\sschrieb.{0,200}:\s*$`),
	regexp.MustCompile(`(?i)^le\s.{4,300}\sa\s[ée]crit\s?:\s*$`),
	regexp.MustCompile(`(?i)^el\s.{4,300}\sescribi[óo]:\s*$`),
	regexp.MustCompile(`(?i)^(op|il|em|den|pada|vào)\s.{4,300}\s(schreef|ha scritto|escreveu|skrev|menulis|đã viết).{0,200}:\s*$`),
	regexp.MustCompile(`^\d{4}[年/\-.]\s?\d{1,2}[月/\-.]\s?\d{1,2}.{0,200}[:：]\s*$`),
	regexp.MustCompile(`(?i)^-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original|pesan asli)\s*-{2,}\s*$`),
}

var (
	headerBlockFrom = regexp.MustCompile(`(?i)^\*?(from|von|de|da|dari|van|från|差出人|发件人|寄件者)\s?\*?\s?[:：]`)
	headerBlockSent = regexp.MustCompile(`(?i)^\*?(sent|date|gesendet|envoyé|enviado|inviato|dikirim|tanggal|verzonden|skickat|送信日時|发送时间|日期)\s?\*?\s?[:：]`)
	outlookRule     = regexp.MustCompile(`^_{20,}\s*$`)
	forwardLine     = regexp.MustCompile(`(?i)^-{2,}\s*(forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|pesan yang diteruskan)\s*-{2,}|^begin forwarded message:`)
)

// quoteStart returns the byte offset in text where quoted history begins, or -1. Only a quote
// that follows some text of the reply's own counts: a message that is all quote is shown whole.
// Forwarded messages ("---------- Forwarded message ---------") are content, not history.
func quoteStart(text string) int {
	lines := strings.SplitAfter(text, "\n")
	offsets := make([]int, len(lines)+1)
	for i, l := range lines {
		offsets[i+1] = offsets[i] + len(l)
	}
	trim := func(i int) string {
		if i >= len(lines) {
			return ""
		}
		return strings.TrimSpace(lines[i])
	}
	hasTextBefore := func(i int) bool {
		for j := 0; j < i; j++ {
			if t := trim(j); t != "" && !strings.HasPrefix(t, ">") {
				return true
			}
		}
		return false
	}
	forwardAt := -10
	for i := range lines {
		t := trim(i)
		if t == "" {
			continue
		}
		if forwardLine.MatchString(t) {
			forwardAt = i
			continue
		}
		if i-forwardAt <= 3 {
			continue // the header block of a forwarded message
		}
		cand := -1
		for _, re := range attributionLine {
			// Clients wrap long attribution lines: try this line joined with the next.
			if re.MatchString(t) || (i+1 < len(lines) && re.MatchString(t+" "+trim(i+1))) {
				cand = i
				break
			}
		}
		if cand < 0 && outlookRule.MatchString(t) && headerBlockFrom.MatchString(trim(i+1)) {
			cand = i
		}
		if cand < 0 && headerBlockFrom.MatchString(t) {
			for j := i + 1; j <= i+3 && j < len(lines); j++ {
				if headerBlockSent.MatchString(trim(j)) {
					cand = i
					break
				}
			}
		}
		if cand < 0 && strings.HasPrefix(t, ">") && trailingQuote(lines[i:]) {
			cand = i
		}
		if cand >= 0 {
			if hasTextBefore(cand) {
				return offsets[cand]
			}
			return -1
		}
	}
	return -1
}

// trailingQuote reports whether lines, from a "> " line on, are only quoted or blank lines (a
// bottom quote, not an answer written between quoted lines).
func trailingQuote(lines []string) bool {
	for _, l := range lines {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, ">") {
			return false
		}
	}
	return true
}
