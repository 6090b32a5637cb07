package templates

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/serambi/serambi/i18n"
	"github.com/serambi/serambi/inbox"
)

func csrfHeaders(token string) string {
	b, _ := json.Marshal(map[string]string{"X-CSRF-Token": token})
	return string(b)
}

func languages() []i18n.Language { return i18n.Languages() }

func statusTitle(v Viewer, status int) string {
	switch status {
	case http.StatusForbidden:
		return v.T("ErrForbiddenTitle")
	case http.StatusNotFound:
		return v.T("ErrNotFoundTitle")
	}
	return v.T("ErrGenericTitle")
}

func toastRole(kind string) string {
	if kind == "error" {
		return "alert"
	}
	return "status"
}

func ariaCurrent(on bool) string {
	if on {
		return "page"
	}
	return "false"
}

func listTitle(v Viewer, lv ListView) string {
	switch lv.View {
	case "mine":
		return v.T("ViewMine")
	case "unassigned":
		return v.T("ViewUnassigned")
	case "team":
		if n := v.Dir.TeamName(lv.TeamID); n != "" {
			return n
		}
	}
	return v.T("ViewAll")
}

func ageTitle(v Viewer, r Row) string {
	t := v.L.Absolute(r.Conv.LastMessageAt, v.Loc)
	if r.Waiting() {
		return v.L.F("WaitingSince", map[string]any{"Time": v.L.Absolute(r.Conv.LastInboundAt, v.Loc)})
	}
	return t
}

func sameDay(v Viewer, a, b time.Time) bool { return dayKey(v, a) == dayKey(v, b) }

func dayKey(v Viewer, t time.Time) string { return t.In(v.Loc).Format("2006-01-02") }

func eventIconChannel(m inbox.Message) inbox.Channel {
	if m.Channel != inbox.ChannelInternal && m.Channel != "" {
		return m.Channel
	}
	return inbox.ChannelInternal
}

func authorName(v Viewer, m inbox.Message, customer string) string {
	if m.AuthorName != "" {
		return m.AuthorName
	}
	if m.Direction == inbox.DirectionIn {
		if customer != "" {
			return customer
		}
		return v.T("Customer")
	}
	return v.Dir.AgentName(m.AuthorID)
}

func itemLabel(v Viewer, m inbox.Message, customer string) string {
	return v.L.F("ItemLabel", map[string]any{"Author": authorName(v, m, customer), "Channel": ChannelName(m.Channel), "Time": v.L.Absolute(m.CreatedAt, v.Loc)})
}

// eventText says what an event entry records, in the viewer's language and with names.
func eventText(v Viewer, m inbox.Message) string {
	e := m.Event
	if e == nil {
		return m.Text
	}
	actor := v.Dir.AgentName(e.ActorID)
	if e.ActorID == "" {
		actor = "Serambi"
	}
	data := map[string]any{"Actor": actor}
	switch e.Kind {
	case inbox.EventReopened:
		return v.T("EventReopened")
	case inbox.EventStatusChanged:
		data["To"] = statusLabel(v, inbox.Status(e.To))
		return v.L.F("EventStatus", data)
	case inbox.EventAssigned:
		if e.To == "" {
			return v.L.F("EventUnassigned", data)
		}
		data["To"] = v.Dir.AgentName(e.To)
		return v.L.F("EventAssigned", data)
	case inbox.EventTeamChanged:
		if e.To == "" {
			return v.L.F("EventTeamRemoved", data)
		}
		data["To"] = v.Dir.TeamName(e.To)
		return v.L.F("EventTeam", data)
	case inbox.EventPriority:
		data["To"] = priorityLabel(v, inbox.Priority(e.To))
		return v.L.F("EventPriority", data)
	case inbox.EventTagged:
		if e.To == "" {
			return v.L.F("EventTagsCleared", data)
		}
		data["To"] = strings.ReplaceAll(e.To, ",", ", ")
		return v.L.F("EventTags", data)
	case inbox.EventMerged:
		data["Loser"] = e.Data["loserName"]
		return v.L.F("EventMerged", data)
	}
	// Connectors' own events (a call, a bounce) bring their words in Text.
	return m.Text
}

func deliveryLabel(v Viewer, d inbox.Delivery) string { return v.T("Delivery_" + string(d)) }

func deliveryTitle(v Viewer, m inbox.Message) string {
	s := deliveryLabel(v, m.Delivery)
	if m.Delivery == inbox.DeliveryFailed && m.DeliveryError != "" {
		s += ": " + m.DeliveryError
	}
	return s
}

func warningText(v Viewer, rc ReplyChannel) string {
	if rc.Warning == "" {
		return ""
	}
	return v.T(rc.Warning)
}

// replySubject is the subject an email reply gets: the thread's, with one "Re:".
func replySubject(d ConversationData) string {
	for i := len(d.Messages) - 1; i >= 0; i-- {
		m := d.Messages[i]
		if m.Channel == inbox.ChannelEmail && m.Subject != "" {
			s := m.Subject
			if !strings.HasPrefix(strings.ToLower(s), "re:") {
				s = "Re: " + s
			}
			return s
		}
	}
	return ""
}

func mergeVals(otherID string) string {
	b, _ := json.Marshal(map[string]string{"other": otherID})
	return string(b)
}

func auditText(v Viewer, a inbox.AuditEntry) string {
	data := map[string]any{"Actor": v.Dir.AgentName(a.ActorID), "Date": v.L.Absolute(a.At, v.Loc)}
	switch a.Action {
	case "customer.merge":
		data["Loser"] = a.Data["loserName"]
		return v.L.F("AuditMerge", data)
	case inbox.ActionIdentityVerified:
		data["Value"] = a.Data["value"]
		return v.L.F("AuditIdentityVerified", data)
	}
	data["Action"] = a.Action
	return v.L.F("AuditOther", data)
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func viewKey(lv ListView) string {
	if lv.View == "team" {
		return "team:" + lv.TeamID
	}
	return lv.View
}

const cannedPlaceholderList = "{{customer.name}}, {{customer.first_name}}, {{customer.email}}, {{customer.phone}}, {{agent.name}}"

func loginAction(next string) string {
	if next == "" || next == "/" {
		return "/login"
	}
	return "/login?next=" + url.QueryEscape(next)
}

func failedText(v Viewer, m inbox.Message) string {
	if m.DeliveryError == "" {
		return v.T("DeliveryFailed")
	}
	return v.T("DeliveryFailed") + ": " + m.DeliveryError
}

// identityValue shows an identity as people write it: phone numbers grouped (+62 812-3456-7890).
func identityValue(id inbox.Identity) string {
	if id.Kind == inbox.KindPhone || id.Kind == inbox.KindWhatsApp {
		if n, err := phonenumbers.Parse(id.Value, "ID"); err == nil {
			return phonenumbers.Format(n, phonenumbers.INTERNATIONAL)
		}
	}
	return id.Value
}
