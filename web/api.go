package web

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

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
	atts, err := s.resolveAttachments(ctx, req.Attachments)
	if err != nil {
		return err
	}
	agentID, agentName := actor(c)
	var m inbox.Message
	if req.Note {
		if req.Channel != "" || req.HTML != "" || req.Subject != "" {
			return fmt.Errorf("a note has only text and attachments, no channel, html or subject: %w", inbox.ErrInvalid)
		}
		var mentions []string
		if s.Notify != nil && strings.Contains(req.Text, "@") {
			list, err := s.Notify.Agents(ctx)
			if err != nil {
				return err
			}
			mentions = agents.FindMentions(req.Text, list)
		}
		m, err = s.Inbox.Note(ctx, inbox.NoteRequest{ConversationID: c.Param("id"), AgentID: agentID, AgentName: agentName,
			Text: req.Text, Attachments: atts, Mentions: mentions})
		if err == nil && len(mentions) > 0 {
			// The note is stored: failing to notify must not fail the request, or the client's
			// retry would store the note twice.
			if nerr := s.Notify.Mentioned(ctx, m); nerr != nil {
				s.Log.Warn("note stored but its mentions not notified", "message", m.ID, "err", nerr)
			}
		}
	} else {
		if req.Channel != "" && !req.Channel.Valid() {
			return fmt.Errorf("channel %q is not one of email, widget, telegram, whatsapp, api: %w", req.Channel, inbox.ErrInvalid)
		}
		text, htmlBody := s.bodies(req.Text, req.HTML)
		m, err = s.Inbox.Reply(ctx, inbox.ReplyRequest{ConversationID: c.Param("id"), AgentID: agentID, AgentName: agentName,
			Channel: req.Channel, Text: text, HTML: htmlBody, Subject: req.Subject, Attachments: atts})
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s.toMessage(m))
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
