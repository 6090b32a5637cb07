package templates

import (
	"net/url"
	"regexp"
	"strings"
	"unicode"

	"github.com/serambi/serambi/inbox"
)

// AttachmentURL is where the console serves an attachment: the route checks the session and that
// the file belongs to the message.
func AttachmentURL(m inbox.Message, a inbox.Attachment) string {
	return "/files/" + url.PathEscape(m.ID) + "/" + url.PathEscape(a.SHA256)
}

// InlineImage reports whether an attachment is shown as an image in the timeline. SVG is not: it
// can carry script, so it is only ever offered as a download.
func InlineImage(a inbox.Attachment) bool {
	switch strings.ToLower(a.ContentType) {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return true
	}
	return false
}

// body is a message's content as the timeline shows it.
type body struct {
	HTML   string // sanitised HTML of an email; empty when the text is shown
	Main   string // the text without quoted history
	Quoted string // quoted history, collapsed
}

var quoteStartRE = regexp.MustCompile(`(?m)^(>|On .{1,200} wrote:\s*$|Pada .{1,200} menulis:\s*$|-{2,}\s*Original Message\s*-{2,}|-{2,}\s*Pesan Asli\s*-{2,})`)

func messageBody(v Viewer, m inbox.Message) body {
	if v.L != nil && m.Channel == inbox.ChannelVoice && m.Direction == inbox.DirectionIn && m.Meta["callId"] != "" && m.Text == "Incoming call" {
		// The voice connector's words for a call's first entry; say them in the agent's language.
		return body{Main: v.T("CallIncoming")}
	}
	if m.HTML != "" && v.HTML != nil && m.Direction == inbox.DirectionIn {
		h := m.HTML
		// Inline images name their parts by Content-ID; point them at the attachment route.
		for _, a := range m.Attachments {
			if a.ContentID != "" && InlineImage(a) {
				cid := strings.Trim(a.ContentID, "<>")
				h = strings.ReplaceAll(h, "cid:"+cid, AttachmentURL(m, a))
			}
		}
		if s := strings.TrimSpace(v.HTML.Sanitize(h)); s != "" {
			return body{HTML: s}
		}
	}
	text := m.Text
	if m.Channel == inbox.ChannelEmail {
		if loc := quoteStartRE.FindStringIndex(text); loc != nil && strings.TrimSpace(text[:loc[0]]) != "" {
			return body{Main: strings.TrimRight(text[:loc[0]], "\n "), Quoted: text[loc[0]:]}
		}
	}
	return body{Main: text}
}

// segment is a run of text, or an @mention to highlight.
type segment struct {
	Text    string
	Mention bool
}

// mentionSegments splits a note's text so @handles stand out. It only marks what looks like a
// mention; who was notified is the note's Meta["mentions"].
func mentionSegments(text string) []segment {
	var out []segment
	rs := []rune(text)
	start := 0
	for i := 0; i < len(rs); i++ {
		if rs[i] != '@' || (i > 0 && !unicode.IsSpace(rs[i-1]) && !unicode.IsPunct(rs[i-1])) {
			continue
		}
		j := i + 1
		for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || strings.ContainsRune("._-+", rs[j])) {
			j++
		}
		if j == i+1 {
			continue
		}
		if i > start {
			out = append(out, segment{Text: string(rs[start:i])})
		}
		out = append(out, segment{Text: string(rs[i:j]), Mention: true})
		start, i = j, j-1
	}
	if start < len(rs) {
		out = append(out, segment{Text: string(rs[start:])})
	}
	return out
}

// listPreview is a conversation's preview in the list; a call's first entry, stored in the voice
// connector's words, is said in the agent's language as in the timeline.
func listPreview(v Viewer, c inbox.Conversation) string {
	if v.L != nil && c.LastChannel == inbox.ChannelVoice && c.Preview == "Incoming call" {
		return v.T("CallIncoming")
	}
	return c.Preview
}

// MetaImagesShown marks a message copy whose remote images the console has pointed at the image
// proxy, for one agent's view. It is never stored.
const MetaImagesShown = "serambi.imagesShown"

// ImagesBlocked reports whether an email has remote images that are not shown: the connector
// counted them when it blocked them (email.remoteImages).
func ImagesBlocked(m inbox.Message) bool {
	return m.Meta["email.remoteImages"] != "" && m.Meta["email.remoteImages"] != "0" && m.Meta[MetaImagesShown] == ""
}
