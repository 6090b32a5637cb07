package web

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"html"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/oklog/ulid/v2"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/inbox"
)

// inboundRequest is POST /api/v1/messages: a message from a customer, as the shop's backend saw it.
type inboundRequest struct {
	ExternalID  string          `json:"externalId"`
	From        inboundFrom     `json:"from"`
	Text        string          `json:"text"`
	HTML        string          `json:"html"`
	Subject     string          `json:"subject"`
	SentAt      *time.Time      `json:"sentAt"`
	Attachments []attachmentRef `json:"attachments"`
}

type inboundFrom struct {
	Email          string `json:"email"`
	Phone          string `json:"phone"`
	ShopCustomerID string `json:"shopCustomerId"`
	Telegram       string `json:"telegram"`
	WhatsApp       string `json:"whatsapp"`
	Name           string `json:"name"`
}

// identities lists what the caller told about the sender, in order of precedence: the first is
// the primary identity. The caller holds an API key, so it vouches for all of them.
func (f inboundFrom) identities() []inbox.Identity {
	var ids []inbox.Identity
	for _, c := range []struct {
		kind  inbox.IdentityKind
		value string
	}{
		{inbox.KindEmail, f.Email}, {inbox.KindPhone, f.Phone}, {inbox.KindShop, f.ShopCustomerID},
		{inbox.KindTelegram, f.Telegram}, {inbox.KindWhatsApp, f.WhatsApp},
	} {
		if strings.TrimSpace(c.value) != "" {
			ids = append(ids, inbox.Identity{Kind: c.kind, Value: c.value, Verified: true})
		}
	}
	return ids
}

type ingestResponse struct {
	MessageID      string `json:"messageId"`
	CustomerID     string `json:"customerId"`
	ConversationID string `json:"conversationId"`
	Duplicate      bool   `json:"duplicate"`
}

func (s *server) ingest(c echo.Context) error {
	var req inboundRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	ids := req.From.identities()
	if len(ids) == 0 {
		return fmt.Errorf("from needs one of email, phone, shopCustomerId, telegram, whatsapp: %w", inbox.ErrNoIdentity)
	}
	atts, err := s.resolveAttachments(ctx, req.Attachments)
	if err != nil {
		return err
	}
	text, htmlBody := s.bodies(req.Text, req.HTML)
	in := inbox.Inbound{
		Channel: inbox.ChannelAPI, ExternalID: req.ExternalID, From: ids, Name: req.From.Name,
		Subject: req.Subject, Text: text, HTML: htmlBody, Attachments: atts,
	}
	if req.SentAt != nil {
		in.SentAt = *req.SentAt
	}
	res, err := s.Inbox.Ingest(ctx, in)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if res.Duplicate {
		status = http.StatusOK
	}
	return c.JSON(status, ingestResponse{MessageID: res.Message.ID, CustomerID: res.CustomerID,
		ConversationID: res.Message.ConversationID, Duplicate: res.Duplicate})
}

// bodies sanitises HTML before it reaches the inbox and makes sure there is a text version.
func (s *server) bodies(text, htmlIn string) (string, string) {
	if strings.TrimSpace(htmlIn) == "" {
		return text, ""
	}
	clean := s.html.Sanitize(htmlIn)
	if strings.TrimSpace(text) == "" {
		text = strings.TrimSpace(html.UnescapeString(s.strip.Sanitize(htmlIn)))
	}
	return text, clean
}

func (s *server) listConversations(c echo.Context) error {
	q := c.QueryParams()
	limit, err := parseLimit(q.Get("limit"))
	if err != nil {
		return err
	}
	after, err := decodeCursor(q.Get("cursor"))
	if err != nil {
		return err
	}
	f := inbox.ConversationFilter{TeamID: q.Get("team"), Tag: q.Get("tag"), After: after, Limit: limit + 1}
	for _, st := range strings.Split(q.Get("status"), ",") {
		if st = strings.TrimSpace(st); st == "" {
			continue
		}
		if !inbox.Status(st).Valid() {
			return badRequest(fmt.Sprintf("status %q is not one of open, pending, snoozed, resolved", st))
		}
		f.Statuses = append(f.Statuses, inbox.Status(st))
	}
	switch a := q.Get("assignee"); a {
	case "none", inbox.AssigneeNone:
		f.Assignee = inbox.AssigneeNone
	default:
		f.Assignee = a
	}
	if ch := q.Get("channel"); ch != "" {
		if !inbox.Channel(ch).Valid() {
			return badRequest(fmt.Sprintf("channel %q is not one of email, widget, telegram, whatsapp, voice, api", ch))
		}
		f.Channel = inbox.Channel(ch)
	}
	convs, err := s.Inbox.Conversations(c.Request().Context(), f)
	if err != nil {
		return err
	}
	// One more than asked for tells whether another page exists, so the last page has no cursor.
	out := page[conversationJSON]{Items: []conversationJSON{}}
	for i, conv := range convs {
		if i == limit {
			last := convs[limit-1]
			out.NextCursor = encodeCursor(last.LastMessageAt, last.ID)
			break
		}
		out.Items = append(out.Items, toConversation(conv))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *server) getConversation(c echo.Context) error {
	conv, err := s.Inbox.Conversation(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toConversation(conv))
}

func (s *server) listMessages(c echo.Context) error {
	ctx := c.Request().Context()
	limit, err := parseLimit(c.QueryParam("limit"))
	if err != nil {
		return err
	}
	before, err := decodeCursor(c.QueryParam("before"))
	if err != nil {
		return err
	}
	conv, err := s.Inbox.Conversation(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	msgs, err := s.Inbox.Messages(ctx, conv.ID, before, limit+1)
	if err != nil {
		return err
	}
	out := page[messageJSON]{Items: []messageJSON{}}
	for i, m := range msgs {
		if i == limit {
			last := msgs[limit-1]
			out.NextCursor = encodeCursor(last.CreatedAt, last.ID)
			break
		}
		out.Items = append(out.Items, s.toMessage(m))
	}
	return c.JSON(http.StatusOK, out)
}

// replyRequest is POST /api/v1/conversations/{id}/messages: a reply to the customer, or with
// "note": true an internal note.
type replyRequest struct {
	Text        string          `json:"text"`
	HTML        string          `json:"html"`
	Subject     string          `json:"subject"`
	Channel     inbox.Channel   `json:"channel"`
	Note        bool            `json:"note"`
	Attachments []attachmentRef `json:"attachments"`
}

func (s *server) postMessage(c echo.Context) error {
	var req replyRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	key, err := idempotencyKey(c.Request().Header)
	if err != nil {
		return err
	}
	if req.Note && (req.Channel != "" || req.HTML != "" || req.Subject != "") {
		return fmt.Errorf("a note has only text and attachments, no channel, html or subject: %w", inbox.ErrInvalid)
	}
	if !req.Note && req.Channel != "" && !req.Channel.Valid() {
		return fmt.Errorf("channel %q is not one of email, widget, telegram, whatsapp, api: %w", req.Channel, inbox.ErrInvalid)
	}
	atts, err := s.resolveAttachments(ctx, req.Attachments)
	if err != nil {
		return err
	}
	agentID, agentName := actor(c)
	want := sent{note: req.Note, channel: req.Channel, text: req.Text, attachments: atts}
	if !req.Note {
		want.text, want.html = s.bodies(req.Text, req.HTML)
		want.subject = req.Subject
	}
	messageID := ""
	if key != "" {
		messageID = idempotentMessageID(agentID, c.Param("id"), key)
		prev, found, err := s.earlierMessage(ctx, messageID, c.Param("id"), agentID)
		if err != nil {
			return err
		}
		if found {
			// The retry of a request that was stored: answer what it answered, without storing,
			// sending or notifying anything again.
			if err := want.matches(prev); err != nil {
				return err
			}
			c.Response().Header().Set(headerIdempotentReplayed, "true")
			return c.JSON(http.StatusOK, s.toMessage(prev))
		}
	}
	var m inbox.Message
	if req.Note {
		var mentions []string
		if s.Notify != nil && strings.Contains(req.Text, "@") {
			list, err := s.Notify.Agents(ctx)
			if err != nil {
				return err
			}
			mentions = agents.FindMentions(req.Text, list)
		}
		m, err = s.Inbox.Note(ctx, inbox.NoteRequest{ConversationID: c.Param("id"), AgentID: agentID, AgentName: agentName,
			MessageID: messageID, Text: req.Text, Attachments: atts, Mentions: mentions})
		if err == nil && len(mentions) > 0 {
			// The note is stored: failing to notify must not fail the request, or the client's
			// retry would store the note twice.
			if nerr := s.Notify.Mentioned(ctx, m); nerr != nil {
				s.Log.Warn("note stored but its mentions not notified", "message", m.ID, "err", nerr)
			}
		}
	} else {
		m, err = s.Inbox.Reply(ctx, inbox.ReplyRequest{ConversationID: c.Param("id"), AgentID: agentID, AgentName: agentName,
			MessageID: messageID, Channel: req.Channel, Text: want.text, HTML: want.html, Subject: req.Subject, Attachments: atts})
	}
	if err != nil {
		return err
	}
	if messageID != "" {
		// Two requests with one key at the same moment: the inbox stored the first and handed
		// the second that message, which must still be what the second asked for.
		if err := want.matches(m); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusCreated, s.toMessage(m))
}

const (
	headerIdempotencyKey     = "Idempotency-Key"
	headerIdempotentReplayed = "Idempotent-Replayed"
	maxIdempotencyKeyLen     = 255
)

// idempotencyKey reads the optional Idempotency-Key header: "" when there is none.
func idempotencyKey(h http.Header) (string, error) {
	vals := h.Values(headerIdempotencyKey)
	if len(vals) == 0 {
		return "", nil
	}
	if len(vals) > 1 {
		return "", badRequest("send one Idempotency-Key header, not several")
	}
	k := vals[0]
	if k == "" || len(k) > maxIdempotencyKeyLen {
		return "", badRequest(fmt.Sprintf("Idempotency-Key must be 1 to %d characters", maxIdempotencyKeyLen))
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return "", badRequest("Idempotency-Key must be printable ASCII (a UUID is a good choice)")
		}
	}
	return k, nil
}

// idempotentMessageID turns an Idempotency-Key into the id of the message it creates, so that
// the inbox's own idempotency (a caller-chosen message id) does the work and nothing else is
// stored. The id depends on who asks and where: another API key, or another conversation, with
// the same key makes another message. Hashing the whole ULID, time bits included, is harmless:
// message ids only break ties between messages of the same instant in cursors and the outbox.
func idempotentMessageID(authorID, conversationID, key string) string {
	h := sha256.New()
	h.Write([]byte("serambi/idempotency-key/v1"))
	for _, part := range []string{authorID, conversationID, key} {
		// Length prefixes keep ("ab", "c") and ("a", "bc") apart.
		h.Write(binary.AppendUvarint(nil, uint64(len(part))))
		h.Write([]byte(part))
	}
	var id ulid.ULID
	copy(id[:], h.Sum(nil))
	// 128 bits in 26 base32 digits: the first digit is 0-7, a well-formed ULID, as inbox.NewID's.
	return strings.ToLower(id.String())
}

// earlierMessage finds the message an idempotent request stored before. found is false when
// there is none yet.
func (s *server) earlierMessage(ctx context.Context, id, conversationID, authorID string) (inbox.Message, bool, error) {
	m, err := s.Inbox.Store().MessageByID(ctx, id)
	if errors.Is(err, inbox.ErrNotFound) {
		return inbox.Message{}, false, nil
	}
	if err != nil {
		return inbox.Message{}, false, fmt.Errorf("look up message %s: %w", id, err)
	}
	// The path may name a conversation merged since into another: compare canonical ids.
	conv, err := s.Inbox.Conversation(ctx, conversationID)
	if err != nil {
		return inbox.Message{}, false, err
	}
	if m.ConversationID != conv.ID || m.AuthorID != authorID {
		return inbox.Message{}, false, fmt.Errorf("message id %s names another message: %w", id, inbox.ErrConflict)
	}
	return m, true, nil
}

// sent is what an idempotent request asked for, as the inbox would store it.
type sent struct {
	note                bool
	channel             inbox.Channel
	text, html, subject string
	attachments         []inbox.Attachment
}

// matches tells a retry from a new request that reuses its key: the stored message must be
// what this request would have stored. Only what the caller chose is compared; the channel
// only when the request named one, since "the last channel" may have moved since.
func (w sent) matches(m inbox.Message) error {
	differs := ""
	switch {
	case w.note != (m.Direction == inbox.DirectionNote):
		differs = "a note and a reply"
	case w.channel != "" && w.channel != m.Channel:
		differs = "channel"
	case !sameStoredText(m.Text, w.text):
		differs = "text"
	case m.HTML != w.html:
		differs = "html"
	case (m.Channel == inbox.ChannelEmail || m.Channel == inbox.ChannelAPI) && !sameStoredText(m.Subject, w.subject):
		differs = "subject"
	case !slices.EqualFunc(m.Attachments, w.attachments, func(a, b inbox.Attachment) bool {
		return a.SHA256 == b.SHA256 && a.Name == b.Name
	}):
		differs = "attachments"
	}
	if differs == "" {
		return nil
	}
	return &requestError{http.StatusUnprocessableEntity, "idempotency_key_reused",
		fmt.Sprintf("this Idempotency-Key was already used for a different request (%s differ): use a new key for a new message", differs)}
}

// sameStoredText reports whether stored is what the inbox stores for text: it drops NUL bytes
// and cuts very long texts with a marker.
func sameStoredText(stored, text string) bool {
	text = strings.ReplaceAll(text, "\x00", "")
	if stored == text {
		return true
	}
	head, cut := strings.CutSuffix(stored, "\n[…truncated]")
	return cut && len(text) > len(head) && strings.HasPrefix(text, head)
}

// patchRequest is PATCH /api/v1/conversations/{id}. Absent (or null) fields stay as they are;
// "assigneeId": "" unassigns.
type patchRequest struct {
	Status       *inbox.Status   `json:"status"`
	SnoozedUntil *time.Time      `json:"snoozedUntil"`
	AssigneeID   *string         `json:"assigneeId"`
	TeamID       *string         `json:"teamId"`
	Tags         *[]string       `json:"tags"`
	Priority     *inbox.Priority `json:"priority"`
}

func (s *server) patchConversation(c echo.Context) error {
	var req patchRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.SnoozedUntil != nil && (req.Status == nil || *req.Status != inbox.StatusSnoozed) {
		return fmt.Errorf(`snoozedUntil goes with "status": "snoozed": %w`, inbox.ErrInvalid)
	}
	actorID, _ := actor(c)
	ctx := c.Request().Context()
	previous := ""
	if req.AssigneeID != nil && s.Notify != nil {
		before, err := s.Inbox.Conversation(ctx, c.Param("id"))
		if err != nil {
			return err
		}
		previous = before.AssigneeID
	}
	conv, err := s.Inbox.Update(ctx, c.Param("id"), actorID, inbox.Change{
		Status: req.Status, SnoozedUntil: req.SnoozedUntil, AssigneeID: req.AssigneeID, TeamID: req.TeamID,
		Tags: req.Tags, Priority: req.Priority,
	})
	if err != nil {
		return err
	}
	if req.AssigneeID != nil && s.Notify != nil {
		if nerr := s.Notify.Assigned(ctx, conv, previous, actorID); nerr != nil {
			s.Log.Warn("conversation assigned but the assignee not notified", "conversation", conv.ID, "err", nerr)
		}
	}
	return c.JSON(http.StatusOK, toConversation(conv))
}

func (s *server) getCustomer(c echo.Context) error {
	cust, err := s.Inbox.Customer(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toCustomer(cust))
}

type mergeRequest struct {
	OtherID string `json:"otherId"`
}

// mergeCustomer merges otherId INTO the customer of the path, which survives.
func (s *server) mergeCustomer(c echo.Context) error {
	var req mergeRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.OtherID) == "" {
		return fmt.Errorf("otherId names the customer to merge into this one: %w", inbox.ErrInvalid)
	}
	actorID, _ := actor(c)
	cust, err := s.Inbox.Merge(c.Request().Context(), c.Param("id"), req.OtherID, actorID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toCustomer(cust))
}

// The answers use the domain types' own JSON, with lists that are [] rather than null.

type conversationJSON struct{ inbox.Conversation }

func toConversation(c inbox.Conversation) conversationJSON {
	if c.Tags == nil {
		c.Tags = []string{}
	}
	if c.Channels == nil {
		c.Channels = []inbox.Channel{}
	}
	return conversationJSON{c}
}

type messageJSON struct {
	inbox.Message
	// Delivery is always present, "" for entries that are not sent anywhere.
	Delivery    inbox.Delivery   `json:"delivery"`
	Attachments []attachmentJSON `json:"attachments"`
}

// attachmentJSON carries a signed link that works without an API key (for <img> and downloads).
type attachmentJSON struct {
	inbox.Attachment
	URL string `json:"url"`
}

// attachmentLinkTTL is how long links in API answers work.
const attachmentLinkTTL = 24 * time.Hour

func (s *server) toMessage(m inbox.Message) messageJSON {
	out := messageJSON{Message: m, Delivery: m.Delivery, Attachments: []attachmentJSON{}}
	for _, a := range m.Attachments {
		out.Attachments = append(out.Attachments, attachmentJSON{Attachment: a, URL: s.URLs.Sign(a, attachmentLinkTTL)})
	}
	return out
}

type customerJSON struct{ inbox.Customer }

func toCustomer(c inbox.Customer) customerJSON {
	c.Identities = slices.Clone(c.Identities)
	if c.Identities == nil {
		c.Identities = []inbox.Identity{}
	}
	return customerJSON{c}
}

// attachmentRef names an uploaded attachment in a message.
type attachmentRef struct {
	SHA256      string `json:"sha256"`
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
}

const maxAttachmentsPerMessage = 20

// resolveAttachments checks that each referenced attachment was uploaded, and completes it.
func (s *server) resolveAttachments(ctx context.Context, refs []attachmentRef) ([]inbox.Attachment, error) {
	if len(refs) > maxAttachmentsPerMessage {
		return nil, fmt.Errorf("at most %d attachments per message: %w", maxAttachmentsPerMessage, inbox.ErrInvalid)
	}
	var out []inbox.Attachment
	for i, r := range refs {
		if !validSHA(r.SHA256) {
			return nil, fmt.Errorf("attachments[%d].sha256 must be the 64 hex digits POST /api/v1/attachments returned: %w", i, inbox.ErrInvalid)
		}
		name, err := cleanFileName(r.Name)
		if err != nil {
			return nil, fmt.Errorf("attachments[%d]: %w", i, err)
		}
		ctype, err := contentType(r.ContentType, name)
		if err != nil {
			return nil, fmt.Errorf("attachments[%d]: %w", i, err)
		}
		size, err := s.blobSize(ctx, r.SHA256)
		if errors.Is(err, inbox.ErrNotFound) {
			return nil, fmt.Errorf("attachments[%d] %s was not uploaded (POST /api/v1/attachments first): %w", i, r.SHA256, inbox.ErrInvalid)
		}
		if err != nil {
			return nil, fmt.Errorf("attachments[%d] %s: %w", i, r.SHA256, err)
		}
		out = append(out, inbox.Attachment{SHA256: r.SHA256, Name: name, ContentType: ctype, Size: size})
	}
	return out, nil
}
