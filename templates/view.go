// Package templates renders the agent console with templ. The same components render a full page
// and the fragments the console hub pushes over the WebSocket, so a live update looks exactly like
// a reload. Components take domain values and small view models; they never query the database.
package templates

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/microcosm-cc/bluemonday"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/i18n"
	"github.com/serambi/serambi/inbox"
)

// Viewer is everything a fragment's look depends on: language, time zone, the clock and the names
// of agents and teams. Fragments pushed to many sockets are rendered once per distinct Viewer
// (language and zone), never per socket.
type Viewer struct {
	L   *i18n.Localizer
	Loc *time.Location
	Now time.Time
	Dir *Directory
	// HTML sanitises email bodies once more as they are shown; nil shows their text instead.
	HTML *bluemonday.Policy
	// CanCall offers click-to-call on the customer's phone numbers: a call center that can
	// originate calls is configured and the viewer has a phone extension.
	CanCall bool
}

// T translates a message id.
func (v Viewer) T(id string) string { return v.L.T(id) }

// Directory names agents and teams for display.
type Directory struct {
	Agents []agents.Agent // ordered by name
	Teams  []agents.Team  // ordered by name
	byID   map[string]int
	teamID map[string]int
}

// NewDirectory indexes agents and teams.
func NewDirectory(as []agents.Agent, ts []agents.Team) *Directory {
	d := &Directory{Agents: as, Teams: ts, byID: map[string]int{}, teamID: map[string]int{}}
	for i, a := range as {
		d.byID[a.ID] = i
	}
	for i, t := range ts {
		d.teamID[t.ID] = i
	}
	return d
}

// Agent returns the agent with id.
func (d *Directory) Agent(id string) (agents.Agent, bool) {
	if d == nil {
		return agents.Agent{}, false
	}
	i, ok := d.byID[id]
	if !ok {
		return agents.Agent{}, false
	}
	return d.Agents[i], true
}

// AgentName is an agent's name; ids of deleted agents and API keys show as given.
func (d *Directory) AgentName(id string) string {
	if a, ok := d.Agent(id); ok {
		return a.Name
	}
	if strings.HasPrefix(id, "apikey:") {
		return "API"
	}
	return id
}

// TeamName is a team's name, or "" when the id is unknown.
func (d *Directory) TeamName(id string) string {
	if d == nil {
		return ""
	}
	if i, ok := d.teamID[id]; ok {
		return d.Teams[i].Name
	}
	return ""
}

// ActiveAgents are the agents that can be assigned work.
func (d *Directory) ActiveAgents() []agents.Agent {
	if d == nil {
		return nil
	}
	var out []agents.Agent
	for _, a := range d.Agents {
		if !a.Disabled {
			out = append(out, a)
		}
	}
	return out
}

// Page is what every full page needs besides its content.
type Page struct {
	Viewer
	Me    agents.Agent
	CSRF  string
	Title string
	// Hub and Seq tell the browser which live stream the page was rendered from and from which
	// event on it must catch up.
	Hub    string
	Seq    uint64
	Assets Assets
	// Canned says whether canned responses are available (a store for them is configured).
	Canned bool
	// Calls are the calls ringing for this agent when the page was rendered.
	Calls []CallPopup
}

// IsAdmin reports whether the signed-in agent is an admin.
func (p Page) IsAdmin() bool { return p.Me.Role == agents.RoleAdmin }

// Assets maps static file names to their versioned URLs.
type Assets map[string]string

// URL is the versioned URL of a static file.
func (a Assets) URL(name string) string {
	if u, ok := a[name]; ok {
		return u
	}
	return "/static/" + name
}

// ListView is the list the agent looks at: a view (mine, unassigned, all, a team) and filters.
type ListView struct {
	View    string // mine | unassigned | all | team
	TeamID  string
	Status  string // open (default) | pending | snoozed | resolved | any
	Channel string
	Tag     string
	// Cart narrows the list to customers whose current cart is abandoned ("abandoned"; the only
	// value). Such a list is read from the shop's carts, newest touched cart first; the hub keeps
	// it live by asking the shop whether a changed customer's cart is abandoned.
	Cart string
}

// CartAbandoned is ListView.Cart for the abandoned-cart filter.
const CartAbandoned = "abandoned"

// Query is the list's canonical query string; equal lists have equal keys.
func (lv ListView) Query() string {
	q := url.Values{}
	q.Set("view", lv.View)
	if lv.View == "team" {
		q.Set("team", lv.TeamID)
	}
	if lv.Status != "" && lv.Status != "open" {
		q.Set("status", lv.Status)
	}
	if lv.Channel != "" {
		q.Set("channel", lv.Channel)
	}
	if lv.Tag != "" {
		q.Set("tag", lv.Tag)
	}
	if lv.Cart != "" {
		q.Set("cart", lv.Cart)
	}
	return q.Encode()
}

// With returns the list with one view or filter changed.
func (lv ListView) With(key, value string) ListView {
	switch key {
	case "view":
		lv.View, lv.TeamID = value, ""
		if strings.HasPrefix(value, "team:") {
			lv.View, lv.TeamID = "team", strings.TrimPrefix(value, "team:")
		}
	case "status":
		lv.Status = value
	case "channel":
		lv.Channel = value
	case "tag":
		lv.Tag = value
	case "cart":
		lv.Cart = value
	}
	return lv
}

// Is reports whether the list shows view (or "team:<id>").
func (lv ListView) Is(view string) bool {
	if lv.View == "team" {
		return view == "team:"+lv.TeamID
	}
	return lv.View == view
}

// Row is one line of the inbox list.
type Row struct {
	Conv         inbox.Conversation
	CustomerName string
	// CartTouched is set in the abandoned-cart list, which is ordered by when the customer's
	// cart was last touched rather than by the conversation's last message.
	CartTouched time.Time
}

// SortKey orders rows newest first (newest activity, or newest touched cart in the abandoned-cart
// list); the browser inserts live rows by it.
func (r Row) SortKey() string {
	at := r.Conv.LastMessageAt
	if !r.CartTouched.IsZero() {
		at = r.CartTouched
	}
	return strconv.FormatInt(at.UnixNano(), 10) + "-" + r.Conv.ID
}

// Waiting reports whether the customer wrote last and is waiting for an answer.
func (r Row) Waiting() bool {
	c := r.Conv
	return !c.LastInboundAt.IsZero() && !c.LastInboundAt.Before(c.LastMessageAt) &&
		(c.Status == inbox.StatusOpen || c.Status == inbox.StatusPending)
}

// ListData is the inbox list column.
type ListData struct {
	View   ListView
	Rows   []Row
	Next   string // cursor of the next page; empty at the end
	Seq    uint64
	Counts Counts
	Tags   []string // tags to offer in the filter
	// CartFilter offers the abandoned-cart filter: a shop's carts are known to the console.
	CartFilter bool
}

// Counts are the open conversations per view, for the navigation.
type Counts struct {
	Mine, Unassigned, All int
	Teams                 map[string]int
}

// ReplyChannel is a channel the composer offers, and why.
type ReplyChannel struct {
	Channel inbox.Channel
	// Reason is a message id: why this channel is first (the last one used) or offered.
	Reason string
	// Warning is a message id when a reply may not arrive (WhatsApp's 24-hour window).
	Warning string
	// TemplatesOnly: only approved templates may leave on this channel now (WhatsApp outside
	// its 24-hour window); the composer offers them instead of free text.
	TemplatesOnly bool
}

// Suggestion is a "possibly the same customer" hint.
type Suggestion struct {
	Other  inbox.Customer
	Reason inbox.Identity
}

// Collaborator is another agent on the same conversation.
type Collaborator struct {
	ID, Name string
	Typing   bool
}

// ConversationData is the work area: timeline, composer and customer.
type ConversationData struct {
	Conv     inbox.Conversation
	Customer inbox.Customer
	// Messages are oldest first, as the timeline shows them.
	Messages    []inbox.Message
	Older       string // cursor for older entries; empty when the start is shown
	Channels    []ReplyChannel
	Unreachable []inbox.Identity // identities a channel said it cannot deliver to
	Suggestions []Suggestion
	Audit       []inbox.AuditEntry
	Collab      []Collaborator
	// Templates are the approved WhatsApp templates, offered when a channel is TemplatesOnly.
	Templates []MessageTemplate
	// Commerce is the commerce panel, filled by the commerce issue; nil leaves the slot empty.
	Commerce templ.Component
	Seq      uint64
	View     ListView
}

// ChannelName is the display name of a channel (not translated: they are brand names).
func ChannelName(ch inbox.Channel) string {
	switch ch {
	case inbox.ChannelEmail:
		return "Email"
	case inbox.ChannelWidget:
		return "Chat"
	case inbox.ChannelTelegram:
		return "Telegram"
	case inbox.ChannelWhatsApp:
		return "WhatsApp"
	case inbox.ChannelVoice:
		return "Phone"
	case inbox.ChannelAPI:
		return "API"
	case inbox.ChannelInternal:
		return "Internal"
	}
	return string(ch)
}

// KindName is the display name of an identity kind.
func KindName(k inbox.IdentityKind) string {
	switch k {
	case inbox.KindEmail:
		return "Email"
	case inbox.KindPhone:
		return "Phone"
	case inbox.KindTelegram:
		return "Telegram"
	case inbox.KindWhatsApp:
		return "WhatsApp"
	case inbox.KindWidget:
		return "Chat"
	case inbox.KindShop:
		return "Shop"
	}
	return string(k)
}

// kindChannel is the channel an identity kind belongs to, for its icon.
func kindChannel(k inbox.IdentityKind) inbox.Channel {
	switch k {
	case inbox.KindEmail:
		return inbox.ChannelEmail
	case inbox.KindPhone:
		return inbox.ChannelVoice
	case inbox.KindTelegram:
		return inbox.ChannelTelegram
	case inbox.KindWhatsApp:
		return inbox.ChannelWhatsApp
	case inbox.KindWidget:
		return inbox.ChannelWidget
	}
	return inbox.ChannelAPI
}

// Statuses in the order the console offers them.
func Statuses() []inbox.Status {
	return []inbox.Status{inbox.StatusOpen, inbox.StatusPending, inbox.StatusSnoozed, inbox.StatusResolved}
}

// Priorities in the order the console offers them.
func Priorities() []inbox.Priority {
	return []inbox.Priority{inbox.PriorityNone, inbox.PriorityLow, inbox.PriorityMedium, inbox.PriorityHigh, inbox.PriorityUrgent}
}

// FilterChannels are the channels the list can be filtered by.
func FilterChannels() []inbox.Channel {
	return []inbox.Channel{inbox.ChannelEmail, inbox.ChannelWhatsApp, inbox.ChannelTelegram, inbox.ChannelWidget, inbox.ChannelVoice, inbox.ChannelAPI}
}

func statusLabel(v Viewer, s inbox.Status) string {
	if s == "" {
		return ""
	}
	return v.T("Status_" + string(s))
}

func priorityLabel(v Viewer, p inbox.Priority) string {
	if p == inbox.PriorityNone {
		return v.T("PriorityNone")
	}
	return v.T("Priority_" + string(p))
}

func initials(name string) string {
	f := strings.Fields(name)
	var out []rune
	for _, w := range f {
		r := []rune(w)
		if len(r) > 0 {
			out = append(out, r[0])
		}
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return strings.ToUpper(string(out))
}

func customerName(v Viewer, name string) string {
	if strings.TrimSpace(name) == "" {
		return v.T("UnknownCustomer")
	}
	return name
}

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func sizeLabel(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
	case n >= 1<<10:
		return strconv.FormatInt(n>>10, 10) + " KB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

func hasTeam(a agents.Agent, id string) bool { return slices.Contains(a.TeamIDs, id) }

func countLabel(n int) string {
	if n > 999 {
		return "999+"
	}
	return strconv.Itoa(n)
}
