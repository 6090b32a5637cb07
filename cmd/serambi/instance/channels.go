package instance

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/connectors"
	"github.com/serambi/serambi/connectors/email"
	"github.com/serambi/serambi/connectors/telegram"
	"github.com/serambi/serambi/connectors/voice"
	"github.com/serambi/serambi/connectors/whatsapp"
	"github.com/serambi/serambi/connectors/widget"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/web/console"
)

// channels is what the configured connectors add to a running instance: senders for the outbox,
// webhook routes, and background loops (polling).
type channels struct {
	senders map[inbox.Channel]inbox.Sender
	routes  []func(g *echo.Group)
	// apiRoutes are mounted under /api/v1 without API-key auth: providers authenticate with their
	// own signatures or tokens (the CTI webhook's path is the one PBX scripts already use).
	apiRoutes []func(g *echo.Group)
	// rootRoutes are mounted at the root: the widget's script, socket and demo page.
	rootRoutes []func(e *echo.Echo)
	loops      []func(ctx context.Context) error
	// For the console: the call screen-pop and recordings, WhatsApp's templates, and each
	// connector's state on the admin Channels page.
	voice    *voice.Connector
	whatsapp *whatsapp.Connector
	// widget is the chat widget, for its settings page and agents' typing.
	widget *widget.Connector
	status []func(context.Context) console.ChannelStatus
}

// channelStore is what the connectors need from the store.
type channelStore interface {
	connectors.StateStore
	email.Store
}

// openChannels configures every connector whose settings are present. A connector with settings
// that are present but wrong stops start-up, naming the variable.
// widgetDeps are what only the chat widget needs from the instance.
type widgetDeps struct {
	// events is the instance's bus, both ways: the widget publishes typing and settings notices
	// and hears replies, merges and typing from every instance.
	events interface {
		bus.Publisher
		bus.Subscriber
	}
	attachmentURL func(inbox.Attachment) string
	secretKey     []byte
	// agentsOnline is asked while visitors chat, once the console exists.
	agentsOnline func() bool
}

func openChannels(getenv func(string) string, instanceID string, x *inbox.Inbox, st channelStore, blobs inbox.Blobs,
	events bus.Publisher, wd widgetDeps, log *slog.Logger) (channels, error) {
	ch := channels{senders: map[inbox.Channel]inbox.Sender{}}
	if getenv == nil {
		return ch, nil
	}
	mailboxes, err := email.LoadFromEnv(getenv)
	if err != nil {
		return ch, fmt.Errorf("email: %w", err)
	}
	if len(mailboxes) > 0 {
		var conns []*email.Connector
		for _, mb := range mailboxes {
			c := email.New(mb, email.Deps{Inbox: x, Store: st, State: st, Blobs: blobs,
				Log: log.With("channel", "email"), Owner: instanceID})
			conns = append(conns, c)
			ch.loops = append(ch.loops, c.Run)
			ch.status = append(ch.status, func(context.Context) console.ChannelStatus { return console.EmailChannelStatus(c.Status()) })
		}
		// A reply leaves through the mailbox the customer wrote to.
		ch.senders[inbox.ChannelEmail] = email.NewRouter(conns...)
	}
	tc, err := telegram.LoadFromEnv(getenv)
	if err != nil {
		return ch, fmt.Errorf("telegram: %w", err)
	}
	if tc.Enabled() {
		tg := telegram.New(tc, telegram.Deps{Ingester: x, Blobs: blobs, State: st, Identities: x,
			Log: log.With("channel", "telegram"), Now: time.Now})
		ch.senders[inbox.ChannelTelegram] = tg
		ch.status = append(ch.status, func(context.Context) console.ChannelStatus { return console.TelegramChannelStatus(tc) })
		ch.routes = append(ch.routes, tg.Register)
		ch.loops = append(ch.loops, tg.Run)
	}
	wc, err := whatsapp.LoadFromEnv(getenv)
	if err != nil {
		return ch, fmt.Errorf("whatsapp: %w", err)
	}
	if wc.Enabled() {
		wa := whatsapp.New(wc, whatsapp.Deps{Ingester: x, Deliveries: x, Blobs: blobs, Log: log.With("channel", "whatsapp")})
		ch.senders[inbox.ChannelWhatsApp] = wa
		ch.whatsapp = wa
		ch.status = append(ch.status, func(context.Context) console.ChannelStatus { return console.WhatsAppChannelStatus(wc) })
		ch.routes = append(ch.routes, wa.Register)
		x.SetReplyPolicy(inbox.ChannelWhatsApp, wa)
	}
	wgc, err := widget.LoadFromEnv(getenv)
	if err != nil {
		return ch, fmt.Errorf("widget: %w", err)
	}
	if wgc.Enabled() {
		deps := widget.Deps{Ingester: x, Deliveries: x, Store: x.Store(), State: st, Blobs: blobs,
			Events: wd.events, Subscriber: wd.events, AgentsOnline: wd.agentsOnline, AttachmentURL: wd.attachmentURL,
			SecretKey: wd.secretKey, Log: log.With("channel", "widget")}
		if _, ok := ch.senders[inbox.ChannelEmail]; ok {
			deps.EmailFallback = x // visitors who left an email get replies there when they are gone
		}
		w := widget.New(wgc, deps)
		ch.senders[inbox.ChannelWidget] = w
		ch.widget = w
		ch.loops = append(ch.loops, w.Run)
		ch.rootRoutes = append(ch.rootRoutes, w.Register)
	}
	vc, err := voice.LoadFromEnv(getenv)
	if err != nil {
		return ch, fmt.Errorf("voice: %w", err)
	}
	if vc.Enabled() {
		v := voice.New(vc, voice.Deps{Inbox: x, State: st, Events: events, Log: log.With("channel", "voice"), Instance: instanceID})
		ch.apiRoutes = append(ch.apiRoutes, v.Register)
		ch.voice = v
		ch.status = append(ch.status, func(context.Context) console.ChannelStatus { return console.VoiceChannelStatus(vc) })
		ch.loops = append(ch.loops, v.Run)
	}
	return ch, nil
}
