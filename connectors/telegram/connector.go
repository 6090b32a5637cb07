// Package telegram connects a Telegram bot to the inbox: updates come in by long polling
// (getUpdates) or by webhook, become inbox messages with their files, and replies leave through
// the outbox as sendMessage / sendPhoto / sendDocument.
package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/serambi/serambi/connectors"
	"github.com/serambi/serambi/inbox"
)

// IdentityFlagger records whether a channel can deliver to an identity; *inbox.Inbox implements
// it (and tells the console, so the reply box stops offering a bot that was blocked).
type IdentityFlagger interface {
	CustomerIDByIdentity(ctx context.Context, kind inbox.IdentityKind, value string) (string, error)
	SetUnreachable(ctx context.Context, customerID string, kind inbox.IdentityKind, value string, unreachable bool) error
}

// Deps are what the connector works with.
type Deps struct {
	Ingester connectors.Ingester
	Blobs    inbox.Blobs
	// State keeps the polling offset and lease; only polling mode needs it.
	State connectors.StateStore
	// Identities is told when a user blocks the bot.
	Identities IdentityFlagger
	// HTTP is the client for the Bot API; nil means a client with sane timeouts.
	HTTP *http.Client
	Log  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Connector is one bot.
type Connector struct {
	cfg   Config
	deps  Deps
	api   *botAPI
	log   *slog.Logger
	now   func() time.Time
	owner string
	// sleep waits between retries; tests shorten it.
	sleep func(ctx context.Context, d time.Duration) error
	// stuck counts the failed tries of the update the poller is held at (Run's goroutine only).
	stuck struct {
		id    int64
		tries int
	}
}

// maxTries is how often one update is tried before its files are given up on.
const maxTries = 5

// New returns the connector for cfg, which must be valid (LoadFromEnv validates it).
func New(cfg Config, deps Deps) *Connector {
	cfg = cfg.WithDefaults()
	if deps.HTTP == nil {
		deps.HTTP = &http.Client{Timeout: cfg.PollTimeout + time.Minute}
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	owner := cfg.Instance
	if owner == "" {
		owner = inbox.NewID()
	}
	return &Connector{
		cfg: cfg, deps: deps, api: newBotAPI(cfg.APIBase, cfg.Token, deps.HTTP),
		log: deps.Log.With("connector", "telegram", "bot", cfg.BotID()), now: deps.Now, owner: owner,
		sleep: sleepCtx,
	}
}

// Config returns the connector's configuration (its secrets print redacted).
func (c *Connector) Config() Config { return c.cfg }

// Check asks Telegram who the bot is, so a wrong token or an unreachable API shows at start.
func (c *Connector) Check(ctx context.Context) (username string, err error) {
	u, err := c.api.getMe(ctx)
	if err != nil {
		return "", err
	}
	return u.UserName, nil
}

// errTransient marks a failure that a later attempt may not have: the update must not be
// acknowledged (offset not advanced, webhook answered 5xx) so that Telegram delivers it again.
// errFile says the failure was fetching one of the update's files.
var (
	errTransient = errors.New("transient")
	errFile      = errors.New("file not fetched")
)

// handle stores one decoded update. It returns nil when the update is durably stored or
// deliberately skipped, and an error wrapping errTransient when it should be delivered again.
// With lastTry, a file that cannot be fetched for now becomes a notice instead of an error: an
// update is not held back forever (polling) or given up on by Telegram (webhook) for a file.
func (c *Connector) handle(ctx context.Context, u Update, lastTry bool) error {
	if u.Kind == "my_chat_member" {
		return c.memberChange(ctx, u)
	}
	d := draftOf(u, c.cfg.BotID(), c.cfg.AllowGroups)
	if d.Skip != "" {
		c.log.Debug("telegram update skipped", "update", u.ID, "reason", d.Skip)
		return nil
	}
	var notices []string
	for _, ref := range d.Media {
		att, notice, err := c.fetch(ctx, ref)
		if err != nil && lastTry && ctx.Err() == nil {
			c.log.Warn("telegram file could not be fetched, stored as a notice", "update", u.ID, "err", err)
			att, notice, err = inbox.Attachment{}, fmt.Sprintf("[%s could not be downloaded from Telegram after several tries; ask the customer to send it again]", ref.Name), nil
		}
		if err != nil {
			return fmt.Errorf("update %d: %w: %w", u.ID, errFile, err)
		}
		if notice != "" {
			notices = append(notices, notice)
			continue
		}
		d.In.Attachments = append(d.In.Attachments, att)
	}
	if len(notices) > 0 {
		d.In.Text = strings.TrimSpace(d.In.Text + "\n" + strings.Join(notices, "\n"))
	}
	res, err := c.deps.Ingester.Ingest(ctx, d.In)
	if errors.Is(err, inbox.ErrInvalid) || errors.Is(err, inbox.ErrNoIdentity) {
		// Retrying cannot make it valid; holding it would stall every update behind it.
		c.log.Warn("telegram update refused by the inbox, skipped", "update", u.ID, "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("update %d: ingest: %w: %w", u.ID, errTransient, err)
	}
	c.log.Debug("telegram update stored", "update", u.ID, "message", res.Message.ID, "duplicate", res.Duplicate)
	return nil
}

// fetch downloads one file into the blob store. A file that cannot be had (too large, gone)
// becomes a notice for the agent; Telegram or the network failing is an error wrapping
// errTransient so the whole update is tried again.
func (c *Connector) fetch(ctx context.Context, ref mediaRef) (inbox.Attachment, string, error) {
	limit := c.cfg.MaxFileSize
	if ref.Size > limit {
		return inbox.Attachment{}, tooLargeNotice(ref.Name, ref.Size, limit), nil
	}
	f, err := c.api.getFile(ctx, ref.FileID)
	var apiErr *APIError
	if errors.As(err, &apiErr) && !apiErr.Transient() {
		if strings.Contains(strings.ToLower(apiErr.Description), "too big") {
			return inbox.Attachment{}, tooLargeNotice(ref.Name, ref.Size, limit), nil
		}
		return inbox.Attachment{}, fmt.Sprintf("[%s could not be downloaded from Telegram: %s]", ref.Name, apiErr.Description), nil
	}
	if err != nil {
		return inbox.Attachment{}, "", fmt.Errorf("getFile %s: %w: %w", ref.Name, errTransient, err)
	}
	if int64(f.FileSize) > limit {
		return inbox.Attachment{}, tooLargeNotice(ref.Name, int64(f.FileSize), limit), nil
	}
	if f.FilePath == "" {
		return inbox.Attachment{}, fmt.Sprintf("[%s could not be downloaded from Telegram: no file path]", ref.Name), nil
	}
	body, err := c.api.download(ctx, f.FilePath)
	if errors.As(err, &apiErr) && !apiErr.Transient() {
		return inbox.Attachment{}, fmt.Sprintf("[%s could not be downloaded from Telegram: %d %s]", ref.Name, apiErr.Code, apiErr.Description), nil
	}
	if err != nil {
		return inbox.Attachment{}, "", fmt.Errorf("download %s: %w: %w", ref.Name, errTransient, err)
	}
	defer body.Close()
	sha, size, err := c.deps.Blobs.Put(ctx, body, limit)
	if errors.Is(err, inbox.ErrTooLarge) {
		return inbox.Attachment{}, tooLargeNotice(ref.Name, 0, limit), nil
	}
	if err != nil {
		return inbox.Attachment{}, "", fmt.Errorf("store %s: %w: %w", ref.Name, errTransient, err)
	}
	return inbox.Attachment{SHA256: sha, Name: ref.Name, ContentType: ref.ContentType, Size: size}, "", nil
}

func tooLargeNotice(name string, size, limit int64) string {
	if size > 0 {
		return fmt.Sprintf("[%s (%s) is larger than the %s a bot may download from Telegram; ask the customer to send it another way]",
			name, formatSize(size), formatSize(limit))
	}
	return fmt.Sprintf("[%s is larger than the %s a bot may download from Telegram; ask the customer to send it another way]",
		name, formatSize(limit))
}

func formatSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// memberChange follows a user blocking ("kicked") or unblocking ("member") the bot in their
// private chat: the customer's Telegram identity becomes unreachable or reachable again, so the
// console offers Telegram for replies exactly when Telegram would deliver them.
func (c *Connector) memberChange(ctx context.Context, u Update) error {
	var ch struct {
		Chat struct {
			ID   int64  `json:"id"`
			Type string `json:"type"`
		} `json:"chat"`
		From struct {
			ID int64 `json:"id"`
		} `json:"from"`
		New struct {
			Status string `json:"status"`
		} `json:"new_chat_member"`
	}
	raw, err := json.Marshal(u.content)
	if err != nil || json.Unmarshal(raw, &ch) != nil || ch.Chat.Type != "private" || c.deps.Identities == nil {
		return nil
	}
	var unreachable bool
	switch ch.New.Status {
	case "kicked":
		unreachable = true
	case "member":
	default:
		return nil
	}
	value := strconv.FormatInt(ch.From.ID, 10)
	customerID, err := c.deps.Identities.CustomerIDByIdentity(ctx, inbox.KindTelegram, value)
	if errors.Is(err, inbox.ErrNotFound) {
		return nil // never wrote to us: nobody to update
	}
	if err == nil {
		err = c.deps.Identities.SetUnreachable(ctx, customerID, inbox.KindTelegram, value, unreachable)
	}
	if err != nil {
		return fmt.Errorf("update %d: record block status: %w: %w", u.ID, errTransient, err)
	}
	c.log.Info("telegram user changed the bot's status", "update", u.ID, "customer", customerID, "blocked", unreachable)
	return nil
}
