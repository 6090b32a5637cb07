package email

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// outgoing is a reply as it leaves: headers decided, files ready to be read.
type outgoing struct {
	From       Address
	ReplyTo    *Address
	To         []Address
	Subject    string
	MessageID  string   // without brackets
	InReplyTo  string   // without brackets; empty for a new thread
	References []string // oldest first, without brackets
	Date       time.Time
	Text       string
	HTML       string // HTML alternative; made from Text when empty
	Files      []outgoingFile
}

type outgoingFile struct {
	Name        string
	ContentType string
	// ContentID is set for an inline image the HTML refers to as cid:<ContentID>.
	ContentID string
	Open      func() (io.ReadCloser, error)
}

// compose writes the reply as MIME:
//
//	multipart/mixed                 when there are attachments
//	  multipart/related             when the HTML shows inline images
//	    multipart/alternative
//	      text/plain; charset=utf-8 (quoted-printable)
//	      text/html; charset=utf-8  (quoted-printable)
//	    inline images (Content-ID)
//	  attachments (base64, original names in RFC 2231 and RFC 2047 form for old clients)
func compose(w io.Writer, m outgoing) error {
	var h mail.Header
	h.SetDate(m.Date)
	h.SetAddressList("From", []*mail.Address{{Name: m.From.Name, Address: m.From.Addr}})
	if m.ReplyTo != nil {
		h.SetAddressList("Reply-To", []*mail.Address{{Name: m.ReplyTo.Name, Address: m.ReplyTo.Addr}})
	}
	to := make([]*mail.Address, len(m.To))
	for i, a := range m.To {
		to[i] = &mail.Address{Name: a.Name, Address: a.Addr}
	}
	h.SetAddressList("To", to)
	h.SetSubject(m.Subject)
	h.SetMessageID(m.MessageID)
	if m.InReplyTo != "" {
		h.SetMsgIDList("In-Reply-To", []string{m.InReplyTo})
	}
	if len(m.References) > 0 {
		h.SetMsgIDList("References", m.References)
	}
	// Tells other helpdesks' and vacation responders' loop protection that a person wrote this;
	// and asks Exchange not to send its automatic replies about automatic replies.
	h.Set("Auto-Submitted", "no")

	html := m.HTML
	if strings.TrimSpace(html) == "" {
		html = textToHTML(m.Text)
	}
	var inline, attached []outgoingFile
	for _, f := range m.Files {
		if f.ContentID != "" && strings.Contains(html, "cid:"+f.ContentID) {
			inline = append(inline, f)
		} else {
			attached = append(attached, f)
		}
	}

	top := h.Header
	var root *message.Writer
	var err error
	switch {
	case len(attached) > 0:
		top.SetContentType("multipart/mixed", nil)
	case len(inline) > 0:
		top.SetContentType("multipart/related", map[string]string{"type": "multipart/alternative"})
	default:
		top.SetContentType("multipart/alternative", nil)
	}
	if root, err = message.CreateWriter(w, top); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	related := root
	if len(attached) > 0 && len(inline) > 0 {
		var rh message.Header
		rh.SetContentType("multipart/related", map[string]string{"type": "multipart/alternative"})
		if related, err = root.CreatePart(rh); err != nil {
			return err
		}
	}
	alt := related
	if len(attached) > 0 || len(inline) > 0 {
		var ah message.Header
		ah.SetContentType("multipart/alternative", nil)
		if alt, err = related.CreatePart(ah); err != nil {
			return err
		}
	}
	for _, body := range []struct{ ct, s string }{{"text/plain", m.Text}, {"text/html", html}} {
		var ph message.Header
		ph.SetContentType(body.ct, map[string]string{"charset": "utf-8"})
		ph.Set("Content-Transfer-Encoding", "quoted-printable")
		pw, err := alt.CreatePart(ph)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(pw, crlf(body.s)); err != nil {
			return err
		}
		if err := pw.Close(); err != nil {
			return err
		}
	}
	if alt != related {
		if err := alt.Close(); err != nil {
			return err
		}
	}
	for _, f := range inline {
		if err := writeFile(related, f, "inline"); err != nil {
			return err
		}
	}
	if related != root {
		if err := related.Close(); err != nil {
			return err
		}
	}
	for _, f := range attached {
		if err := writeFile(root, f, "attachment"); err != nil {
			return err
		}
	}
	return root.Close()
}

func writeFile(parent *message.Writer, f outgoingFile, disposition string) error {
	var fh message.Header
	ct := f.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	// name= in RFC 2047 form for Outlook before 2010; filename*= in RFC 2231 form for everyone else.
	fh.Set("Content-Type", mime.FormatMediaType(ct, map[string]string{"name": mime.BEncoding.Encode("utf-8", f.Name)}))
	if fh.Get("Content-Type") == "" {
		fh.Set("Content-Type", "application/octet-stream")
	}
	fh.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": f.Name}))
	if f.ContentID != "" {
		fh.Set("Content-Id", "<"+f.ContentID+">")
	}
	fh.Set("Content-Transfer-Encoding", "base64")
	pw, err := parent.CreatePart(fh)
	if err != nil {
		return err
	}
	r, err := f.Open()
	if err != nil {
		return fmt.Errorf("open attachment %q: %w", f.Name, err)
	}
	defer r.Close()
	if _, err := io.Copy(pw, r); err != nil {
		return fmt.Errorf("write attachment %q: %w", f.Name, err)
	}
	return pw.Close()
}

// crlf makes line breaks CRLF, as MIME text parts need.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// composeBytes is compose into memory.
func composeBytes(m outgoing) ([]byte, error) {
	var b bytes.Buffer
	if err := compose(&b, m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
