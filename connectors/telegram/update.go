package telegram

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/serambi/serambi/inbox"
)

// ErrMalformed says an update is not the JSON object the Bot API documents.
var ErrMalformed = errors.New("malformed telegram update")

// Update is one decoded Bot API Update: its id, which optional field it carries, and that field.
type Update struct {
	ID int64
	// Kind is the name of the update's optional field: "message", "edited_message",
	// "callback_query", or one this code has never heard of.
	Kind string
	// Message is set for the message kinds (message, edited_message, channel_post, ...).
	Message *tgbotapi.Message
	// content is the raw field, kept for kinds and message types the library does not know.
	content map[string]json.RawMessage
}

// messageKinds are the update fields that carry a Message. Business-connection messages are
// left out on purpose: a reply to them must go through the business connection, which Send does
// not do, so they arrive as a notice instead of as a chat the agent would answer into the void.
var messageKinds = []string{"message", "edited_message", "channel_post", "edited_channel_post"}

// DecodeUpdate parses one Update as Telegram sends it (getUpdates result item or webhook body).
// Unknown fields are ignored, unknown update kinds are kept by name; only a body that is not an
// object with a numeric update_id, or whose known fields have the wrong types, is an error
// (ErrMalformed; the returned Update still has the id when it could be read).
func DecodeUpdate(body []byte) (Update, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return Update{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if top == nil {
		return Update{}, fmt.Errorf("%w: not an object", ErrMalformed)
	}
	var u Update
	idRaw, ok := top["update_id"]
	if !ok {
		return Update{}, fmt.Errorf("%w: no update_id", ErrMalformed)
	}
	if err := json.Unmarshal(idRaw, &u.ID); err != nil || u.ID < 0 {
		return Update{}, fmt.Errorf("%w: update_id is not a non-negative integer", ErrMalformed)
	}
	// From here on errors keep the id, so a poller can still move past an update it cannot read.
	bad := Update{ID: u.ID}
	// An Update carries at most one optional field; pick it deterministically if a future
	// version ever sends more.
	keys := make([]string, 0, len(top))
	for k := range top {
		if k != "update_id" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if string(top[k]) == "null" {
			continue
		}
		u.Kind = k
		break
	}
	if u.Kind == "" {
		return u, nil
	}
	raw := top[u.Kind]
	if err := json.Unmarshal(raw, &u.content); err != nil {
		// A known kind must be an object; an unknown one is only a notice, whatever its shape.
		if slices.Contains(messageKinds, u.Kind) {
			return bad, fmt.Errorf("%w: %s is not an object", ErrMalformed, u.Kind)
		}
		u.content = nil
	}
	if slices.Contains(messageKinds, u.Kind) {
		var m tgbotapi.Message
		if err := json.Unmarshal(raw, &m); err != nil {
			return bad, fmt.Errorf("%w: %s: %w", ErrMalformed, u.Kind, err)
		}
		u.Message = &m
	}
	return u, nil
}

// mediaRef is a file to fetch with getFile before the message is stored.
type mediaRef struct {
	FileID      string
	Name        string
	ContentType string
	Size        int64 // as Telegram reported it; 0 when unknown
}

// draft is an update turned into what the inbox takes, before its files are fetched.
type draft struct {
	In    inbox.Inbound
	Media []mediaRef
	// Skip, when set, says why the update stores nothing (a group chat, a bot talking).
	Skip string
}

// envelopeFields are the message fields that describe the message rather than being its content;
// any other field present on a message without known content names its (unsupported) type.
var envelopeFields = map[string]bool{
	"message_id": true, "message_thread_id": true, "from": true, "sender_chat": true, "sender_boost_count": true,
	"sender_business_bot": true, "date": true, "business_connection_id": true, "chat": true,
	"forward_origin": true, "forward_from": true, "forward_from_chat": true, "forward_from_message_id": true,
	"forward_signature": true, "forward_sender_name": true, "forward_date": true, "is_topic_message": true,
	"is_automatic_forward": true, "reply_to_message": true, "external_reply": true, "quote": true,
	"reply_to_story": true, "via_bot": true, "edit_date": true, "has_protected_content": true,
	"is_from_offline": true, "media_group_id": true, "author_signature": true, "entities": true,
	"caption_entities": true, "link_preview_options": true, "effect_id": true, "show_caption_above_media": true,
	"has_media_spoiler": true, "reply_markup": true, "caption": true, "text": true, "sender_tag": true,
}

// draftOf turns an update into an inbound message for bot botID.
func draftOf(u Update, botID string, allowGroups bool) draft {
	if u.Message == nil {
		return otherUpdate(u, botID)
	}
	m := u.Message
	switch {
	case m.Chat == nil:
		return draft{Skip: "message without a chat"}
	case m.From == nil:
		return draft{Skip: "message without a sender (a channel post)"}
	case m.From.IsBot:
		return draft{Skip: "message from a bot"}
	case m.Chat.Type != "private" && !allowGroups:
		return draft{Skip: "group chat message (group chats are not enabled)"}
	}
	d := draft{In: inbox.Inbound{
		Channel:    inbox.ChannelTelegram,
		ExternalID: MessageExternalID(botID, m.Chat.ID, m.MessageID),
		From:       []inbox.Identity{{Kind: inbox.KindTelegram, Value: strconv.FormatInt(m.From.ID, 10), Verified: true}},
		Name:       strings.TrimSpace(m.From.FirstName + " " + m.From.LastName),
		SentAt:     time.Unix(int64(m.Date), 0).UTC(),
		Meta: map[string]string{
			"chatId":    strconv.FormatInt(m.Chat.ID, 10),
			"messageId": strconv.Itoa(m.MessageID),
		},
	}}
	if m.From.UserName != "" {
		d.In.Meta["username"] = m.From.UserName
	}
	if m.Chat.Type != "private" {
		d.In.Meta["chatType"] = m.Chat.Type
		d.In.Meta["chatTitle"] = m.Chat.Title
	}
	// An edit arrives as the same message again. It becomes its own timeline entry, marked
	// edited and pointing at the original: replacing the stored text would rewrite history an
	// agent may already have answered, and the inbox keeps messages immutable.
	if m.EditDate != 0 && strings.HasPrefix(u.Kind, "edited_") {
		d.In.Meta["edited"] = "true"
		d.In.Meta["editOf"] = d.In.ExternalID
		d.In.ExternalID += ":edit:" + strconv.Itoa(m.EditDate)
		d.In.SentAt = time.Unix(int64(m.EditDate), 0).UTC()
	}
	if r := m.ReplyToMessage; r != nil {
		chatID := m.Chat.ID
		if r.Chat != nil {
			chatID = r.Chat.ID
		}
		d.In.Meta["replyTo"] = MessageExternalID(botID, chatID, r.MessageID)
		if q := firstNonEmpty(r.Text, r.Caption); q != "" {
			d.In.Meta["replyToText"] = clip(q, 200)
		}
	}
	var parts []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	add(m.Text)
	known := true
	switch {
	case len(m.Photo) > 0:
		p := largestPhoto(m.Photo)
		d.Media = append(d.Media, mediaRef{FileID: p.FileID, Name: "photo_" + safeName(p.FileUniqueID) + ".jpg", ContentType: "image/jpeg", Size: int64(p.FileSize)})
	case m.Animation != nil:
		// An animation also carries a document describing the same file: take it once.
		a := m.Animation
		d.Media = append(d.Media, mediaRef{FileID: a.FileID, Name: nameOr(a.FileName, "animation.mp4"), ContentType: orDefault(a.MimeType, "video/mp4"), Size: int64(a.FileSize)})
	case m.Document != nil:
		doc := m.Document
		d.Media = append(d.Media, mediaRef{FileID: doc.FileID, Name: nameOr(doc.FileName, "document"), ContentType: orDefault(doc.MimeType, "application/octet-stream"), Size: int64(doc.FileSize)})
	case m.Voice != nil:
		v := m.Voice
		d.Media = append(d.Media, mediaRef{FileID: v.FileID, Name: "voice.ogg", ContentType: orDefault(v.MimeType, "audio/ogg"), Size: int64(v.FileSize)})
		if m.Caption == "" && m.Text == "" {
			add(fmt.Sprintf("🎤 Voice message (%s)", time.Duration(v.Duration)*time.Second))
		}
	case m.Video != nil:
		v := m.Video
		d.Media = append(d.Media, mediaRef{FileID: v.FileID, Name: nameOr(v.FileName, "video.mp4"), ContentType: orDefault(v.MimeType, "video/mp4"), Size: int64(v.FileSize)})
	case m.VideoNote != nil:
		v := m.VideoNote
		d.Media = append(d.Media, mediaRef{FileID: v.FileID, Name: "video_note.mp4", ContentType: "video/mp4", Size: int64(v.FileSize)})
	case m.Audio != nil:
		a := m.Audio
		d.Media = append(d.Media, mediaRef{FileID: a.FileID, Name: nameOr(a.FileName, "audio.mp3"), ContentType: orDefault(a.MimeType, "audio/mpeg"), Size: int64(a.FileSize)})
	case m.Sticker != nil:
		s := m.Sticker
		add("Sticker " + s.Emoji)
		// A static sticker is a webp image and shows as one; animated (tgs) and video (webm)
		// stickers would not render in a browser, so their label stands alone.
		if !s.IsAnimated && !isVideoSticker(u.content) {
			d.Media = append(d.Media, mediaRef{FileID: s.FileID, Name: "sticker.webp", ContentType: "image/webp", Size: int64(s.FileSize)})
		}
	case m.Venue != nil:
		v := m.Venue
		add(fmt.Sprintf("📍 %s, %s\n%s", v.Title, v.Address, mapLink(v.Location.Latitude, v.Location.Longitude)))
		locationMeta(d.In.Meta, v.Location)
	case m.Location != nil:
		add("📍 Location: " + mapLink(m.Location.Latitude, m.Location.Longitude))
		locationMeta(d.In.Meta, *m.Location)
	case m.Contact != nil:
		contactDraft(&d, m, add)
	default:
		known = strings.TrimSpace(m.Text) != ""
	}
	add(m.Caption)
	if !known {
		add(fmt.Sprintf("[Unsupported Telegram message: %s. Open Telegram to see it.]", contentType(u.content)))
		d.In.Meta["unsupported"] = contentType(u.content)
	}
	d.In.Text = strings.Join(parts, "\n")
	return d
}

// contactDraft handles a shared contact. A user sharing their own number (the contact's user_id
// is the sender, which Telegram's "share my phone number" button guarantees) proves they hold it:
// the phone becomes a verified identity and links this Telegram user to the customer known by
// that number. Anyone else's contact is just content.
func contactDraft(d *draft, m *tgbotapi.Message, add func(string)) {
	c := m.Contact
	phone := strings.TrimSpace(c.PhoneNumber)
	if phone != "" && !strings.HasPrefix(phone, "+") {
		// Telegram sends the number in international form without the '+'.
		phone = "+" + phone
	}
	name := strings.TrimSpace(c.FirstName + " " + c.LastName)
	if c.UserID != 0 && c.UserID == m.From.ID && phone != "" {
		d.In.From = append(d.In.From, inbox.Identity{Kind: inbox.KindPhone, Value: phone, Verified: true})
		d.In.Meta["sharedPhone"] = phone
		add("📞 Shared their phone number: " + phone)
		return
	}
	add(fmt.Sprintf("👤 Contact: %s, %s", orDefault(name, "(no name)"), orDefault(phone, "(no number)")))
}

// otherUpdate turns an update that is not a message into a notice in the timeline of the user
// it concerns, or skips it when it names no user (polls, channel updates).
func otherUpdate(u Update, botID string) draft {
	if u.Kind == "" {
		return draft{Skip: "update without content"}
	}
	var who *tgbotapi.User
	for _, f := range []string{"from", "user"} {
		if raw, ok := u.content[f]; ok {
			var usr tgbotapi.User
			if json.Unmarshal(raw, &usr) == nil && usr.ID != 0 {
				who = &usr
				break
			}
		}
	}
	if who == nil {
		return draft{Skip: "update " + u.Kind + " names no user"}
	}
	if who.IsBot {
		return draft{Skip: "update from a bot"}
	}
	text := fmt.Sprintf("[Telegram sent a %q update, which Serambi does not show. Open Telegram to see it.]", u.Kind)
	if u.Kind == "callback_query" {
		var data string
		if json.Unmarshal(u.content["data"], &data) == nil && data != "" {
			text = "[Pressed a button: " + clip(data, 64) + "]"
		}
	}
	return draft{In: inbox.Inbound{
		Channel:    inbox.ChannelTelegram,
		ExternalID: botID + ":update:" + strconv.FormatInt(u.ID, 10),
		From:       []inbox.Identity{{Kind: inbox.KindTelegram, Value: strconv.FormatInt(who.ID, 10), Verified: true}},
		Name:       strings.TrimSpace(who.FirstName + " " + who.LastName),
		Text:       text,
		Meta:       map[string]string{"updateKind": u.Kind, "unsupported": u.Kind},
	}}
}

// MessageExternalID is the inbox ExternalID of a Telegram message: message ids are unique only
// within a chat, and chats are per bot, so all three are part of it.
func MessageExternalID(botID string, chatID int64, messageID int) string {
	return botID + ":" + strconv.FormatInt(chatID, 10) + ":" + strconv.Itoa(messageID)
}

// largestPhoto picks the biggest of the sizes Telegram offers (it lists them small to large,
// but the order is not promised).
func largestPhoto(sizes []tgbotapi.PhotoSize) tgbotapi.PhotoSize {
	best := sizes[0]
	for _, p := range sizes[1:] {
		if p.Width*p.Height > best.Width*best.Height || (p.Width*p.Height == best.Width*best.Height && p.FileSize > best.FileSize) {
			best = p
		}
	}
	return best
}

// isVideoSticker reads is_video, which the library's Sticker type predates.
func isVideoSticker(content map[string]json.RawMessage) bool {
	var s struct {
		IsVideo bool `json:"is_video"`
	}
	return json.Unmarshal(content["sticker"], &s) == nil && s.IsVideo
}

// contentType names a message's type by its first non-envelope field.
func contentType(content map[string]json.RawMessage) string {
	var keys []string
	for k := range content {
		if !envelopeFields[k] {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "empty message"
	}
	slices.Sort(keys)
	return clip(keys[0], 64)
}

func locationMeta(meta map[string]string, l tgbotapi.Location) {
	meta["latitude"] = strconv.FormatFloat(l.Latitude, 'f', -1, 64)
	meta["longitude"] = strconv.FormatFloat(l.Longitude, 'f', -1, 64)
}

func mapLink(lat, lon float64) string {
	return fmt.Sprintf("https://www.openstreetmap.org/?mlat=%.6f&mlon=%.6f", lat, lon)
}

// safeName keeps a file-name fragment to characters that are safe anywhere.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			return r
		}
		return -1
	}, s)
	return clip(s, 64)
}

func nameOr(name, def string) string {
	name = strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r == '/' || r == '\\' || r == 0x7f {
			return -1
		}
		return r
	}, name))
	if name == "" || name == "." || name == ".." {
		return def
	}
	return clip(name, 200)
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
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
