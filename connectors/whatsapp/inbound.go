package whatsapp

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/serambi/serambi/inbox"
)

// mediaRef is a media object to fetch before the message is stored.
type mediaRef struct {
	ID          string
	Name        string
	ContentType string
}

// draft is an inbound message before its media are fetched.
type draft struct {
	In    inbox.Inbound
	Media []mediaRef
	Skip  string
}

// draftOf turns one message of a change into an inbound message. The sender's wa_id is their
// phone number in international form without the '+'; with it the sender is both a WhatsApp and
// a (verified: WhatsApp confirmed the number) phone identity, so a customer first known by phone
// from the call center or a shop order is the same customer here.
func draftOf(m Message, contacts []Contact) draft {
	if m.ID == "" {
		return draft{Skip: "message without an id"}
	}
	if m.From == "" {
		return draft{Skip: "message without a sender"}
	}
	phone := "+" + strings.TrimPrefix(m.From, "+")
	d := draft{In: inbox.Inbound{
		Channel:    inbox.ChannelWhatsApp,
		ExternalID: m.ID,
		From: []inbox.Identity{
			{Kind: inbox.KindWhatsApp, Value: phone, Verified: true},
			{Kind: inbox.KindPhone, Value: phone, Verified: true},
		},
		Name:   profileName(m.From, contacts),
		SentAt: m.Timestamp.Time,
		Meta:   map[string]string{"type": m.Type},
	}}
	if m.Context != nil {
		if m.Context.ID != "" {
			d.In.Meta["replyTo"] = m.Context.ID
		}
		if m.Context.Forwarded || m.Context.FrequentlyForwarded {
			d.In.Meta["forwarded"] = "true"
		}
	}
	if r := m.Referral; r != nil {
		d.In.Meta["referralSource"] = r.SourceURL
		d.In.Meta["referralHeadline"] = r.Headline
	}
	var parts []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	media := func(md *Media, def, defType string) {
		if md == nil || md.ID == "" {
			add("[" + def + " without a media id]")
			return
		}
		name := cleanName(md.Filename)
		if name == "" {
			name = def + extension(md.MimeType)
		}
		d.Media = append(d.Media, mediaRef{ID: md.ID, Name: name, ContentType: firstNonEmpty(md.MimeType, defType)})
		add(md.Caption)
	}
	switch m.Type {
	case "text":
		if m.Text != nil {
			add(m.Text.Body)
		}
	case "image":
		media(m.Image, "image", "image/jpeg")
	case "video":
		media(m.Video, "video", "video/mp4")
	case "document":
		media(m.Document, "document", "application/octet-stream")
	case "audio":
		if m.Audio != nil && m.Audio.Voice {
			add("🎤 Voice message")
		}
		media(m.Audio, "audio", "audio/ogg")
	case "sticker":
		add("Sticker")
		media(m.Sticker, "sticker", "image/webp")
	case "location":
		if l := m.Location; l != nil {
			label := firstNonEmpty(strings.Join(nonEmpty(l.Name, l.Address), ", "), "Location")
			add(fmt.Sprintf("📍 %s\nhttps://www.openstreetmap.org/?mlat=%.6f&mlon=%.6f", label, l.Latitude, l.Longitude))
			d.In.Meta["latitude"] = strconv.FormatFloat(l.Latitude, 'f', -1, 64)
			d.In.Meta["longitude"] = strconv.FormatFloat(l.Longitude, 'f', -1, 64)
		}
	case "contacts":
		for _, c := range m.Contacts {
			var phones []string
			for _, p := range c.Phones {
				phones = append(phones, p.Phone)
			}
			for _, e := range c.Emails {
				phones = append(phones, e.Email)
			}
			add(fmt.Sprintf("👤 Contact: %s %s", firstNonEmpty(c.Name.FormattedName, strings.TrimSpace(c.Name.FirstName+" "+c.Name.LastName), "(no name)"), strings.Join(phones, ", ")))
		}
	case "interactive":
		switch i := m.Interactive; {
		case i == nil:
		case i.ButtonReply != nil:
			add("🔘 " + i.ButtonReply.Title)
			d.In.Meta["buttonId"] = i.ButtonReply.ID
		case i.ListReply != nil:
			add("📋 " + strings.Join(nonEmpty(i.ListReply.Title, i.ListReply.Description), " — "))
			d.In.Meta["listId"] = i.ListReply.ID
		case i.NfmReply != nil:
			add("📝 " + firstNonEmpty(i.NfmReply.Body, "Form submitted"))
			d.In.Meta["formResponse"] = clip(i.NfmReply.ResponseJSON, 4096)
		}
	case "button":
		if m.Button != nil {
			add("🔘 " + m.Button.Text)
			d.In.Meta["buttonPayload"] = m.Button.Payload
		}
	case "reaction":
		if r := m.Reaction; r != nil {
			if r.Emoji == "" {
				add("Removed a reaction")
			} else {
				add("Reacted " + r.Emoji)
			}
			d.In.Meta["reactionTo"] = r.MessageID
		}
	case "system":
		if m.System != nil {
			add("ℹ️ " + m.System.Body)
		}
	}
	if len(parts) == 0 && len(d.Media) == 0 {
		// "unknown"/"unsupported" types, or a type this code has never heard of: the agent
		// learns something arrived instead of seeing nothing.
		reason := ""
		if len(m.Errors) > 0 {
			reason = " (" + m.Errors[0].String() + ")"
		}
		add(fmt.Sprintf("[Unsupported WhatsApp message: %s%s. Open WhatsApp to see it.]", clip(firstNonEmpty(m.Type, "no type"), 64), reason))
		d.In.Meta["unsupported"] = m.Type
	}
	d.In.Text = strings.Join(parts, "\n")
	return d
}

func profileName(waID string, contacts []Contact) string {
	for _, c := range contacts {
		if c.WaID == waID {
			return c.Profile.Name
		}
	}
	if len(contacts) == 1 {
		return contacts[0].Profile.Name
	}
	return ""
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func extension(mime string) string {
	mime, _, _ = strings.Cut(mime, ";")
	switch strings.TrimSpace(mime) {
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "image/webp":
		return ".webp"
	case "video/mp4":
		return ".mp4"
	case "video/3gpp":
		return ".3gp"
	case "audio/ogg":
		return ".ogg"
	case "audio/mpeg":
		return ".mp3"
	case "audio/aac":
		return ".aac"
	case "audio/amr":
		return ".amr"
	case "audio/mp4":
		return ".m4a"
	case "application/pdf":
		return ".pdf"
	}
	return ""
}

// cleanName keeps a sender-chosen file name from carrying paths or control characters.
func cleanName(name string) string {
	name = strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r == '/' || r == '\\' || r == 0x7f {
			return -1
		}
		return r
	}, name))
	if name == "." || name == ".." {
		return ""
	}
	return clip(name, 200)
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
