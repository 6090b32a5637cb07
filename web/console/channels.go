package console

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/connectors/email"
	"github.com/serambi/serambi/connectors/telegram"
	"github.com/serambi/serambi/connectors/voice"
	"github.com/serambi/serambi/connectors/whatsapp"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
)

// ChannelStatus is one connector's state on the admin's Channels page. It must hold nothing
// secret; the helpers below build it from the connectors' own status and configuration.
type ChannelStatus = templates.ChannelStatus

// channelOrder is the order of the Channels page; a channel that reports nothing is listed as
// not configured, so an admin sees what could be connected.
var channelOrder = [...]inbox.Channel{inbox.ChannelEmail, inbox.ChannelWhatsApp, inbox.ChannelTelegram, inbox.ChannelVoice}

func (c *Console) channelsPage(ctx echo.Context) error {
	p, err := c.page(ctx, "AdminChannels")
	if err != nil {
		return c.fail(ctx, err)
	}
	var list []ChannelStatus
	if c.Channels != nil {
		list = c.Channels(ctx.Request().Context())
	}
	return render(ctx, http.StatusOK, templates.ChannelsPage(p, withUnconfigured(list)))
}

// withUnconfigured orders the statuses by channel and adds a "not configured" row for each
// channel without one.
func withUnconfigured(list []ChannelStatus) []ChannelStatus {
	var out []ChannelStatus
	for _, ch := range channelOrder {
		n := len(out)
		for _, s := range list {
			if s.Channel == ch {
				out = append(out, s)
			}
		}
		if len(out) == n {
			out = append(out, ChannelStatus{Channel: ch, State: "not_configured"})
		}
	}
	for _, s := range list {
		known := false
		for _, ch := range channelOrder {
			known = known || s.Channel == ch
		}
		if !known {
			out = append(out, s)
		}
	}
	return out
}

// EmailChannelStatus is a mailbox's state: pushed by IDLE, polled, read by another instance
// (standby), or failing.
func EmailChannelStatus(s email.Status) ChannelStatus {
	cs := ChannelStatus{Channel: inbox.ChannelEmail, Name: s.Address, LastSync: s.LastSync, LastError: s.LastError, LastErrorAt: s.LastErrorAt}
	if s.Mailbox != "" && s.Mailbox != s.Address {
		cs.Name = strings.TrimSpace(s.Mailbox + " · " + s.Address)
	}
	switch {
	case s.Standby:
		cs.State = "standby"
	case s.Connected && s.Idle:
		cs.State = "idle"
	case s.Connected:
		cs.State = "polling"
	case s.LastError != "":
		cs.State = "error"
	default:
		cs.State = "connecting"
	}
	cs.Detail = fmt.Sprintf("%d imported · %d events · %d skipped since start", s.Imported, s.Events, s.Skipped)
	return cs
}

// TelegramChannelStatus describes a configured bot by its public id and mode; the token never
// appears.
func TelegramChannelStatus(cfg telegram.Config) ChannelStatus {
	if !cfg.Enabled() {
		return ChannelStatus{Channel: inbox.ChannelTelegram, State: "not_configured"}
	}
	cs := ChannelStatus{Channel: inbox.ChannelTelegram, Name: "bot " + cfg.BotID(), State: "polling"}
	// The webhook URL is not shown: operators sometimes put a secret in its path.
	if cfg.Mode == telegram.ModeWebhook {
		cs.State = "webhook"
	}
	return cs
}

// WhatsAppChannelStatus describes a configured business number by its Graph id.
func WhatsAppChannelStatus(cfg whatsapp.Config) ChannelStatus {
	if !cfg.Enabled() {
		return ChannelStatus{Channel: inbox.ChannelWhatsApp, State: "not_configured"}
	}
	return ChannelStatus{Channel: inbox.ChannelWhatsApp, Name: "phone number id " + cfg.PhoneNumberID, State: "webhook",
		Detail: fmt.Sprintf("%d approved templates", len(cfg.Templates))}
}

// VoiceChannelStatus lists the call sources that are set up.
func VoiceChannelStatus(cfg voice.Config) ChannelStatus {
	if !cfg.Enabled() {
		return ChannelStatus{Channel: inbox.ChannelVoice, State: "not_configured"}
	}
	var sources []string
	if cfg.CTIToken != "" {
		sources = append(sources, "generic CTI webhook")
	}
	if cfg.TwilioAuthToken != "" {
		sources = append(sources, "Twilio")
	}
	if cfg.AMI.Addr != "" {
		sources = append(sources, "Asterisk AMI "+cfg.AMI.Addr)
	}
	return ChannelStatus{Channel: inbox.ChannelVoice, Name: strings.Join(sources, ", "), State: "configured"}
}

// WhatsAppTemplates lists the approved WhatsApp templates agents may send.
type WhatsAppTemplates interface {
	Templates() []whatsapp.Template
}

// templatesOf converts the configured templates for the composer.
func (c *Console) templatesOf() []templates.MessageTemplate {
	if c.WhatsApp == nil {
		return nil
	}
	var out []templates.MessageTemplate
	for _, t := range c.WhatsApp.Templates() {
		out = append(out, templates.MessageTemplate{Name: t.Name, Language: t.Language, Params: t.Params, Text: t.Text})
	}
	return out
}
