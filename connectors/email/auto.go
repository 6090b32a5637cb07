package email

import (
	"bufio"
	"bytes"
	"net/textproto"
	"regexp"
	"strings"

	"github.com/jhillyerd/enmime/v2"
	"github.com/jhillyerd/enmime/v2/dsn"
)

// AutoKind says whether a message was written by a machine, and which kind of machine.
type AutoKind string

const (
	AutoNone AutoKind = ""
	// AutoReply is an out-of-office or other automatic answer: an event on the conversation of
	// the message it answers, never a message an agent must answer.
	AutoReply AutoKind = "auto-reply"
	// AutoBounce is a delivery failure report: an event on the conversation of the message that
	// failed, which is marked failed.
	AutoBounce AutoKind = "bounce"
	// AutoReceipt is a read receipt (message disposition notification).
	AutoReceipt AutoKind = "receipt"
	// AutoBulk is a newsletter, list or notification mail. It is ingested like any mail (someone
	// may need to read it) but flagged, and nothing ever answers it automatically.
	AutoBulk AutoKind = "bulk"
)

// Bounce is what a delivery failure report says.
type Bounce struct {
	// OriginalMessageID is the Message-ID of the mail that failed, when the report names it.
	OriginalMessageID string
	Recipients        []string
	Status            string // enhanced status code, e.g. 5.1.1
	Diagnostic        string
	// Permanent: the address will not work (5.x.x or Action: failed); otherwise it is a delay.
	Permanent bool
}

var (
	daemonSender  = regexp.MustCompile(`(?i)^(mailer-daemon|postmaster|mail-delivery-subsystem|mail-daemon|bounce[s]?|double-bounce)@`)
	bounceSubject = regexp.MustCompile(`(?i)(undeliver|undelivered|delivery status notification|delivery (has )?failed|failure notice|returned mail|mail delivery failed|could not be delivered|non remis|unzustellbar|no se puede entregar|tidak dapat dikirim)`)
	autoSubject   = regexp.MustCompile(`(?i)^\s*(automatic reply|auto(matic)?[- ]?(reply|response)|out of (the )?office|abwesenheitsnotiz|automatische antwort|réponse automatique|respuesta automática|risposta automatica|autosvar|automatisch antwoord|balasan otomatis|自動応答|自动回复|自動回覆)\b.{0,3}`)
	failedStatus  = regexp.MustCompile(`\b([245])\.\d{1,3}\.\d{1,3}\b`)
	headerMsgID   = regexp.MustCompile(`(?im)^message-id:\s*(<[^<>\r\n]+>)`)
)

// classify decides what machine, if any, wrote the message.
func classify(env *enmime.Envelope, from Address, subject string, hasRefs bool) (AutoKind, string) {
	h := env.Root.Header
	ct := strings.ToLower(h.Get("Content-Type"))
	if strings.HasPrefix(ct, "multipart/report") {
		switch {
		case strings.Contains(ct, "disposition-notification"):
			return AutoReceipt, "multipart/report disposition-notification"
		case strings.Contains(ct, "delivery-status"):
			return AutoBounce, "multipart/report delivery-status"
		}
	}
	if daemonSender.MatchString(from.Addr) && (bounceSubject.MatchString(subject) || h.Get("X-Failed-Recipients") != "") {
		return AutoBounce, "sender " + from.Addr
	}
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && v != "no" {
		if strings.HasPrefix(v, "auto-replied") || hasRefs {
			return AutoReply, "Auto-Submitted: " + v
		}
		return AutoBulk, "Auto-Submitted: " + v
	}
	for _, name := range []string{"X-Autoreply", "X-Autorespond", "X-Autoresponder"} {
		if h.Get(name) != "" {
			return AutoReply, name
		}
	}
	if strings.EqualFold(strings.TrimSpace(h.Get("X-Auto-Response-Suppress")), "All") && autoSubject.MatchString(subject) {
		return AutoReply, "X-Auto-Response-Suppress and subject"
	}
	prec := strings.ToLower(strings.TrimSpace(h.Get("Precedence")))
	switch {
	case prec == "auto_reply":
		return AutoReply, "Precedence: auto_reply"
	case autoSubject.MatchString(subject):
		return AutoReply, "subject"
	case prec == "bulk" || prec == "junk" || prec == "list":
		if hasRefs {
			// Many vacation responders answer with Precedence: bulk.
			return AutoReply, "Precedence: " + prec
		}
		return AutoBulk, "Precedence: " + prec
	case h.Get("List-Id") != "" || h.Get("List-Unsubscribe") != "":
		if hasRefs {
			return AutoNone, "" // someone answering on a list, or a reply to our newsletter
		}
		return AutoBulk, "List-Id"
	}
	return AutoNone, ""
}

// parseBounce reads what it can from a failure report: RFC 3464 delivery-status when present,
// otherwise the headers and the returned message's headers in the body.
func parseBounce(env *enmime.Envelope, raw []byte) *Bounce {
	b := &Bounce{}
	if rep, err := dsn.ParseReport(env.Root); err == nil && rep != nil {
		for _, r := range rep.DeliveryStatus.RecipientDSNs {
			if rcpt := r.Get("Final-Recipient"); rcpt != "" {
				b.Recipients = append(b.Recipients, dsnAddress(rcpt))
			} else if rcpt := r.Get("Original-Recipient"); rcpt != "" {
				b.Recipients = append(b.Recipients, dsnAddress(rcpt))
			}
			if b.Status == "" {
				b.Status = strings.TrimSpace(r.Get("Status"))
			}
			if b.Diagnostic == "" {
				b.Diagnostic = strings.TrimSpace(dsnAddress(r.Get("Diagnostic-Code")))
			}
			if dsn.IsFailed(r) {
				b.Permanent = true
			}
		}
		if len(rep.OriginalMessage) > 0 {
			b.OriginalMessageID = originalMessageID(rep.OriginalMessage)
		}
	}
	if b.OriginalMessageID == "" {
		// text/rfc822-headers and message/rfc822 parts that the DSN parser did not take.
		for _, p := range append(append([]*enmime.Part{}, env.OtherParts...), env.Attachments...) {
			if strings.HasPrefix(p.ContentType, "message/") || p.ContentType == "text/rfc822-headers" {
				if id := originalMessageID(p.Content); id != "" {
					b.OriginalMessageID = id
					break
				}
			}
		}
	}
	if b.OriginalMessageID == "" {
		// Non-standard bounces quote the returned headers in the text.
		if m := headerMsgID.FindAllSubmatch(raw, -1); len(m) > 0 {
			own := NormalizeMessageID(env.Root.Header.Get("Message-Id"))
			for _, x := range m {
				if id := NormalizeMessageID(string(x[1])); id != "" && id != own {
					b.OriginalMessageID = id
					break
				}
			}
		}
	}
	if len(b.Recipients) == 0 {
		for _, a := range ParseAddresses(env.Root.Header.Get("X-Failed-Recipients")) {
			b.Recipients = append(b.Recipients, a.Addr)
		}
	}
	if b.Status == "" {
		if m := failedStatus.FindStringSubmatch(env.Text); m != nil {
			b.Status = m[0]
		}
	}
	if strings.HasPrefix(b.Status, "5.") {
		b.Permanent = true
	}
	if b.Diagnostic == "" {
		b.Diagnostic = firstLines(env.Text, 3)
	}
	return b
}

// dsnAddress strips the type from a DSN field ("rfc822; siti@example.com" → "siti@example.com").
func dsnAddress(v string) string {
	if _, after, ok := strings.Cut(v, ";"); ok {
		v = after
	}
	return strings.ToLower(strings.TrimSpace(v))
}

// originalMessageID reads the Message-ID of a returned message (or its headers).
func originalMessageID(b []byte) string {
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(b)))
	h, _ := r.ReadMIMEHeader() // a partial header is still useful
	return NormalizeMessageID(h.Get("Message-Id"))
}

func firstLines(s string, n int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
			if len(out) == n {
				break
			}
		}
	}
	j := strings.Join(out, " ")
	if len(j) > 500 {
		j = j[:500]
	}
	return j
}
