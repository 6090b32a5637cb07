package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/connectors/whatsapp"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
)

// maxFiles bounds the attachments of one reply.
const maxFiles = 10

// send posts a reply on a channel or an internal note, with attachments.
func (c *Console) send(ctx echo.Context) error {
	p, err := c.page(ctx, "Inbox")
	if err != nil {
		return c.fail(ctx, err)
	}
	r := ctx.Request()
	r.Body = http.MaxBytesReader(ctx.Response(), r.Body, c.opt.MaxAttachmentBytes*maxFiles+1<<20)
	if err := r.ParseMultipartForm(1 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		return c.fail(ctx, fmt.Errorf("read the form: %w", err))
	}
	if r.MultipartForm != nil {
		defer func() { _ = r.MultipartForm.RemoveAll() }()
	}
	id := ctx.Param("id")
	atts, err := c.storeUploads(r.Context(), r.MultipartForm)
	if err != nil {
		return c.fail(ctx, err)
	}
	text := r.FormValue("text")
	var sent inbox.Message
	if r.FormValue("mode") == "note" {
		sent, err = c.Inbox.Note(r.Context(), inbox.NoteRequest{ConversationID: id, AgentID: p.Me.ID, AgentName: p.Me.Name,
			MessageID: r.FormValue("mid"), Text: text, Attachments: atts, Mentions: agents.FindMentions(text, p.Dir.Agents)})
	} else {
		req := inbox.ReplyRequest{ConversationID: id, AgentID: p.Me.ID, AgentName: p.Me.Name, MessageID: r.FormValue("mid"),
			Channel: inbox.Channel(r.FormValue("channel")), Text: text, Subject: r.FormValue("subject"), Attachments: atts}
		if key := r.FormValue("template"); key != "" && req.Channel == inbox.ChannelWhatsApp {
			if err := c.templateReply(ctx, &req, key, r.Form["tparam:"+key]); err != nil {
				return err
			}
		}
		sent, err = c.Inbox.Reply(r.Context(), req)
	}
	if err != nil {
		return c.fail(ctx, err)
	}
	c.notifyMentions(ctx, sent)
	c.hub.stopTyping(id, p.Me.ID)
	conv, err := c.Inbox.Conversation(r.Context(), id)
	if err != nil {
		return c.fail(ctx, err)
	}
	d, err := c.loadSides(r.Context(), conv, p.Viewer)
	if err != nil {
		return c.fail(ctx, err)
	}
	d.Messages = []inbox.Message{sent}
	return render(ctx, http.StatusOK, templates.ComposerSent(p.Viewer, d, sent))
}

// storeUploads puts the uploaded files in the blob store. The content type is what the bytes are,
// not what the browser said, so a script named photo.png is never served as an image.
func (c *Console) storeUploads(ctx context.Context, form *multipart.Form) ([]inbox.Attachment, error) {
	if form == nil {
		return nil, nil
	}
	files := form.File["files"]
	if len(files) > maxFiles {
		return nil, fmt.Errorf("at most %d files per message: %w", maxFiles, inbox.ErrInvalid)
	}
	var out []inbox.Attachment
	for _, fh := range files {
		if fh.Size == 0 {
			continue
		}
		f, err := fh.Open()
		if err != nil {
			return nil, fmt.Errorf("open upload %q: %w", fh.Filename, err)
		}
		br := bufio.NewReaderSize(f, 512)
		head, _ := br.Peek(512)
		ctype := http.DetectContentType(head)
		sha, size, err := c.Blobs.Put(ctx, br, c.opt.MaxAttachmentBytes)
		_ = f.Close()
		if err != nil {
			return nil, fmt.Errorf("store upload %q: %w", fh.Filename, err)
		}
		out = append(out, inbox.Attachment{SHA256: sha, Name: cleanFileName(fh.Filename), ContentType: ctype, Size: size})
	}
	return out, nil
}

func cleanFileName(name string) string {
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return -1
		}
		return r
	}, name)
	if !utf8.ValidString(name) {
		name = strings.ToValidUTF8(name, "_")
	}
	if name == "" || name == "." || name == "/" {
		name = "file"
	}
	if len(name) > 200 {
		name = name[:200]
	}
	return name
}

// change applies an agent's change to a conversation and answers with its new header.
func (c *Console) change(ctx echo.Context, ch inbox.Change) error {
	p, err := c.page(ctx, "Inbox")
	if err != nil {
		return c.fail(ctx, err)
	}
	r := ctx.Request()
	conv, err := c.update(r.Context(), ctx.Param("id"), p.Me.ID, ch)
	if err != nil {
		return c.fail(ctx, err)
	}
	cust, err := c.Inbox.Customer(r.Context(), conv.CustomerID)
	if err != nil {
		return c.fail(ctx, err)
	}
	return render(ctx, http.StatusOK, templates.ConversationHeader(p.Viewer, conv, cust))
}

func (c *Console) setStatus(ctx echo.Context) error {
	st := inbox.Status(ctx.FormValue("status"))
	ch := inbox.Change{Status: &st}
	if st == inbox.StatusSnoozed {
		until, err := time.ParseInLocation("2006-01-02T15:04", ctx.FormValue("until"), c.zone(me(ctx).Timezone))
		if err != nil {
			return c.fail(ctx, fmt.Errorf("snooze until %q: %w", ctx.FormValue("until"), inbox.ErrInvalid))
		}
		ch.SnoozedUntil = &until
	}
	return c.change(ctx, ch)
}

func (c *Console) assign(ctx echo.Context) error {
	var ch inbox.Change
	form, err := ctx.FormParams()
	if err != nil {
		return c.fail(ctx, err)
	}
	if form.Has("assignee") {
		id, err := c.agentID(ctx, form.Get("assignee"))
		if err != nil {
			return c.fail(ctx, err)
		}
		ch.AssigneeID = &id
	}
	if form.Has("team") {
		id, err := c.teamID(ctx, form.Get("team"))
		if err != nil {
			return c.fail(ctx, err)
		}
		ch.TeamID = &id
	}
	return c.change(ctx, ch)
}

// agentID resolves an assignee field: "" unassigns, "me" is the signed-in agent, otherwise an
// enabled agent's id.
func (c *Console) agentID(ctx echo.Context, v string) (string, error) {
	switch v {
	case "":
		return "", nil
	case "me":
		return me(ctx).ID, nil
	}
	dir, err := c.directory(ctx.Request().Context())
	if err != nil {
		return "", err
	}
	if a, ok := dir.Agent(v); !ok || a.Disabled {
		return "", fmt.Errorf("agent %s: %w", v, inbox.ErrNotFound)
	}
	return v, nil
}

func (c *Console) teamID(ctx echo.Context, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	dir, err := c.directory(ctx.Request().Context())
	if err != nil {
		return "", err
	}
	if dir.TeamName(v) == "" {
		return "", fmt.Errorf("team %s: %w", v, inbox.ErrNotFound)
	}
	return v, nil
}

func (c *Console) setPriority(ctx echo.Context) error {
	pr := inbox.Priority(ctx.FormValue("priority"))
	return c.change(ctx, inbox.Change{Priority: &pr})
}

func (c *Console) setTags(ctx echo.Context) error {
	tags := strings.Split(ctx.FormValue("tags"), ",")
	return c.change(ctx, inbox.Change{Tags: &tags})
}

// bulk applies one action to the checked conversations of the list.
func (c *Console) bulk(ctx echo.Context) error {
	form, err := ctx.FormParams()
	if err != nil {
		return c.fail(ctx, err)
	}
	ids := form["ids"]
	l := c.localizer(ctx)
	if len(ids) == 0 || len(ids) > inbox.MaxPage {
		return c.failStatus(ctx, http.StatusUnprocessableEntity, l.F("ErrBulkCount", map[string]any{"Max": inbox.MaxPage}))
	}
	kind, value, _ := strings.Cut(form.Get("action"), ":")
	var ch inbox.Change
	switch kind {
	case "status":
		st := inbox.Status(value)
		if st == inbox.StatusSnoozed || !st.Valid() {
			return c.fail(ctx, fmt.Errorf("bulk status %q: %w", value, inbox.ErrInvalid))
		}
		ch.Status = &st
	case "assign":
		id, err := c.agentID(ctx, value)
		if err != nil {
			return c.fail(ctx, err)
		}
		ch.AssigneeID = &id
	case "team":
		id, err := c.teamID(ctx, value)
		if err != nil {
			return c.fail(ctx, err)
		}
		ch.TeamID = &id
	default:
		return c.fail(ctx, fmt.Errorf("bulk action %q: %w", form.Get("action"), inbox.ErrInvalid))
	}
	done := 0
	var firstErr error
	for _, id := range ids {
		if _, err := c.update(ctx.Request().Context(), id, me(ctx).ID, ch); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		done++
	}
	if done == 0 && firstErr != nil {
		return c.fail(ctx, firstErr)
	}
	msg := l.N("BulkDone", done, nil)
	if firstErr != nil {
		_, detail := c.describe(ctx, firstErr)
		msg += " " + l.F("BulkSomeFailed", map[string]any{"Count": len(ids) - done, "Reason": detail})
	}
	toast(ctx, "ok", msg)
	return ctx.NoContent(http.StatusOK)
}

// merge merges a suggested customer into this one.
func (c *Console) merge(ctx echo.Context) error {
	other := ctx.FormValue("other")
	if other == "" {
		return c.fail(ctx, fmt.Errorf("which customer to merge is missing: %w", inbox.ErrInvalid))
	}
	r := ctx.Request()
	survivor, err := c.Inbox.Merge(r.Context(), ctx.Param("id"), other, me(ctx).ID)
	if err != nil {
		return c.fail(ctx, err)
	}
	conv, err := c.Inbox.ConversationOfCustomer(r.Context(), survivor.ID)
	if err != nil {
		return c.fail(ctx, err)
	}
	toast(ctx, "ok", c.localizer(ctx).F("Merged", map[string]any{"Name": survivor.Name}))
	loc, _ := json.Marshal(map[string]string{"path": "/conversations/" + conv.ID, "target": "#work"})
	ctx.Response().Header().Set("HX-Location", string(loc))
	return ctx.NoContent(http.StatusOK)
}

// toast asks the browser to show a notice after the request (HX-Trigger event serambi:toast).
func toast(ctx echo.Context, kind, msg string) {
	b, _ := json.Marshal(map[string]any{"serambi:toast": map[string]string{"kind": kind, "message": msg}})
	ctx.Response().Header().Set("HX-Trigger", string(b))
}

func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// cannedPicker lists canned responses for the `/` picker, filled in for the conversation's customer.
func (c *Console) cannedPicker(ctx echo.Context) error {
	p, err := c.page(ctx, "Inbox")
	if err != nil {
		return c.fail(ctx, err)
	}
	if c.Canned == nil {
		return render(ctx, http.StatusOK, templates.CannedList(p.Viewer, nil, false))
	}
	r := ctx.Request()
	var cust inbox.Customer
	if id := ctx.QueryParam("conv"); id != "" {
		conv, err := c.Inbox.Conversation(r.Context(), id)
		if err != nil {
			return c.fail(ctx, err)
		}
		if cust, err = c.Inbox.Customer(r.Context(), conv.CustomerID); err != nil {
			return c.fail(ctx, err)
		}
	}
	list, err := c.Canned.ListCanned(r.Context())
	if err != nil {
		return c.fail(ctx, err)
	}
	q := strings.ToLower(strings.TrimSpace(ctx.QueryParam("q")))
	vars := agents.CannedVars(cust, p.Me)
	var items []templates.CannedItem
	for _, cr := range list {
		if q != "" && !strings.HasPrefix(cr.Shortcut, q) && !strings.Contains(strings.ToLower(cr.Title), q) {
			continue
		}
		items = append(items, templates.CannedItem{Shortcut: cr.Shortcut, Title: cr.Title, Text: agents.ExpandCanned(cr.Text, vars)})
		if len(items) == 20 {
			break
		}
	}
	return render(ctx, http.StatusOK, templates.CannedList(p.Viewer, items, true))
}

// templateReply makes req the approved WhatsApp template named by key ("name|language") with
// its parameters: the meta the WhatsApp connector sends it by, and the rendered text the
// timeline shows. A template is only sent when the window is closed, which is when the composer
// offers them; inside the window the agent's text goes as typed.
func (c *Console) templateReply(ctx echo.Context, req *inbox.ReplyRequest, key string, params []string) error {
	conv, err := c.Inbox.Conversation(ctx.Request().Context(), req.ConversationID)
	if err != nil {
		return c.fail(ctx, err)
	}
	if whatsapp.WindowOpen(conv, c.Now()) {
		return nil
	}
	l := c.localizer(ctx)
	var tpl *templates.MessageTemplate
	for _, t := range c.templatesOf() {
		if t.Key() == key {
			tpl = &t
			break
		}
	}
	if tpl == nil {
		return c.failStatus(ctx, http.StatusUnprocessableEntity, l.T("ErrTemplateUnknown"))
	}
	if len(params) != tpl.Params {
		return c.failStatus(ctx, http.StatusUnprocessableEntity, l.T("ErrTemplateParams"))
	}
	for i, v := range params {
		params[i] = strings.TrimSpace(v)
		if params[i] == "" || strings.ContainsAny(params[i], "\n\t") {
			return c.failStatus(ctx, http.StatusUnprocessableEntity, l.T("ErrTemplateParams"))
		}
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return c.fail(ctx, err)
	}
	if req.Meta == nil {
		req.Meta = map[string]string{}
	}
	req.Meta[whatsapp.MetaTemplate], req.Meta[whatsapp.MetaTemplateLanguage] = tpl.Name, tpl.Language
	if tpl.Params > 0 {
		req.Meta[whatsapp.MetaTemplateParams] = string(raw)
	}
	req.Text = whatsapp.Template{Name: tpl.Name, Language: tpl.Language, Params: tpl.Params, Text: tpl.Text}.Render(params)
	req.Attachments = nil // a template carries no files; the composer hides them
	req.Subject = ""
	return nil
}
