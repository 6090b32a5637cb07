package shop

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/nyaruka/phonenumbers"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/inbox"
)

var testNow = time.Date(2026, 5, 10, 9, 30, 0, 0, time.UTC)

// worlds runs check on the worlds of a few start times: the demo starts at any hour of any day,
// and what holds must hold for all of them.
func worlds(t *testing.T, check func(t *testing.T, w World, now time.Time)) {
	for _, now := range []time.Time{testNow, testNow.Add(7*time.Hour + 13*time.Minute), testNow.Add(91*time.Hour + 47*time.Minute)} {
		t.Run(now.Format(time.RFC3339), func(t *testing.T) { check(t, Generate(now), now) })
	}
}

func TestGenerateSizes(t *testing.T) {
	worlds(t, func(t *testing.T, w World, now time.Time) {
		msgs, convs := 0, len(w.threads)
		for _, th := range w.threads {
			msgs += len(th.msgs)
		}
		open := 0
		for _, c := range w.Carts {
			if now.Sub(c.ShopUpdatedAt) < time.Hour {
				open++
			}
		}
		tests := []struct {
			what     string
			got      int
			min, max int
		}{
			{"products", len(w.Products), 45, 60},
			{"customers", len(w.Customers), 280, 320},
			{"orders", len(w.Orders), 1400, 1600},
			{"order ids", len(w.OrderIDs), len(w.Orders), len(w.Orders)},
			{"carts", len(w.Carts), 50, 100},
			{"cart ids", len(w.CartIDs), len(w.Carts), len(w.Carts)},
			{"carts touched in the last hour", open, 10, 40},
			{"loyalty accounts", len(w.Loyalty), 200, 300},
			{"conversations", convs, 120, 220},
			{"messages", msgs, 1000, 4000},
			{"customers on three channels or more with a conversation", len(w.MultiChannel()), 15, 300},
		}
		for _, tc := range tests {
			if tc.got < tc.min || tc.got > tc.max {
				t.Errorf("%s: %d, want %d to %d", tc.what, tc.got, tc.min, tc.max)
			}
		}
		if w.Currency != "IDR" {
			t.Errorf("currency %q, want IDR", w.Currency)
		}
	})
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := Generate(testNow), Generate(testNow)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two worlds generated for the same time differ")
	}
	// Another start time moves the dates, never the people, products or ids a restarted demo
	// and a simulation rely on.
	later := Generate(testNow.Add(26 * time.Hour))
	who := func(w World) []Customer {
		out := slices.Clone(w.Customers)
		for i := range out {
			out[i].ID, out[i].since, out[i].History, out[i].Tier, out[i].Timeline = "", time.Time{}, false, "", nil
		}
		return out
	}
	if !reflect.DeepEqual(who(a), who(later)) {
		t.Error("customers depend on the start time")
	}
	if !slices.Equal(a.OrderIDs, later.OrderIDs) || !slices.Equal(a.CartIDs, later.CartIDs) {
		t.Error("order or cart ids depend on the start time")
	}
}

func TestGenerateTimesAreInTheLastSixMonths(t *testing.T) {
	worlds(t, func(t *testing.T, w World, now time.Time) {
		start := now.Add(-183 * 24 * time.Hour)
		in := func(what string, at time.Time) {
			if at.Before(start) || at.After(now) {
				t.Errorf("%s at %s, outside %s .. %s", what, at, start, now)
			}
		}
		for _, o := range w.Orders {
			in(o.ID+" placed", o.PlacedAt)
			in(o.ID+" updated", o.ShopUpdatedAt)
		}
		for _, th := range w.threads {
			for _, m := range th.msgs {
				in("message "+m.ID, m.CreatedAt)
			}
		}
		recent := 0
		for _, th := range w.threads {
			if now.Sub(th.conv.LastMessageAt) < 3*24*time.Hour {
				recent++
			}
		}
		if recent < len(w.threads)/5 {
			t.Errorf("%d of %d conversations were active in the last three days; the inbox should look lived-in", recent, len(w.threads))
		}
	})
}

func TestCustomersIdentities(t *testing.T) {
	w := Generate(testNow)
	norm := inbox.NewNormalizer("ID")
	locales := map[string]int{}
	seen := map[string]string{}
	for _, c := range w.Customers {
		locales[c.Locale]++
		if c.Phone != "" {
			num, err := phonenumbers.Parse(c.Phone, "ID")
			if err != nil || !phonenumbers.IsValidNumber(num) || phonenumbers.Format(num, phonenumbers.E164) != c.Phone {
				t.Errorf("%s: phone %q is not a valid E.164 number", c.Name, c.Phone)
			}
		}
		if c.WhatsApp && c.Phone == "" {
			t.Errorf("%s uses WhatsApp without a number", c.Name)
		}
		ids := identities(c)
		if len(ids) == 0 {
			t.Errorf("%s has no identity", c.Name)
		}
		for _, id := range ids {
			n, err := norm.Normalize(id)
			if err != nil || n.Value != id.Value {
				t.Errorf("%s: identity %s is not as the inbox normalises it (%q, %v)", c.Name, id.Key(), n.Value, err)
			}
			if other, ok := seen[id.Key()]; ok && id.Kind != inbox.KindPhone {
				t.Errorf("identity %s belongs to %s and %s", id.Key(), other, c.Name)
			}
			seen[id.Key()] = c.Name
		}
		switch {
		case c.WidgetVisitor == "":
		case strings.HasPrefix(c.WidgetVisitor, "s:"):
			if c.WidgetVisitor != "s:"+c.ShopID || c.ShopID == "" {
				t.Errorf("%s: signed widget identity %q does not name their shop id %q", c.Name, c.WidgetVisitor, c.ShopID)
			}
		case strings.HasPrefix(c.WidgetVisitor, "v:"):
			if len(c.WidgetToken) != 32 || c.WidgetVisitor != "v:"+(&generator{}).visitorID(c.WidgetToken) {
				t.Errorf("%s: anonymous widget identity %q is not the visitor id of token %q", c.Name, c.WidgetVisitor, c.WidgetToken)
			}
		default:
			t.Errorf("%s: widget identity %q is neither signed (s:) nor anonymous (v:)", c.Name, c.WidgetVisitor)
		}
		if !slices.Equal(c.Channels, channelsOf(c)) {
			t.Errorf("%s: channels %v, want %v", c.Name, c.Channels, channelsOf(c))
		}
	}
	if locales["id"] < len(w.Customers)/2 || locales["en"] < 20 || len(locales) != 2 {
		t.Errorf("locales %v: want mostly id, some en, nothing else", locales)
	}
}

func TestMultiChannelCustomersHaveOneTimelineAcrossChannels(t *testing.T) {
	worlds(t, func(t *testing.T, w World, now time.Time) {
		n := 0
		for _, th := range w.threads {
			var chans []inbox.Channel
			for _, m := range th.msgs {
				if m.ConversationID != th.conv.ID || m.CustomerID != th.conv.CustomerID {
					t.Fatalf("message %s is not in its thread's conversation", m.ID)
				}
				if (m.Direction == inbox.DirectionIn || m.Direction == inbox.DirectionOut) && !slices.Contains(chans, m.Channel) {
					chans = append(chans, m.Channel)
				}
			}
			if len(chans) >= 3 {
				n++
			}
		}
		if n < 15 {
			t.Errorf("%d conversations hold messages from three channels or more, want at least 15", n)
		}
	})
}

func TestConversationRowsMatchTheirTimelines(t *testing.T) {
	worlds(t, func(t *testing.T, w World, now time.Time) {
		statuses := map[inbox.Status]int{}
		tags := map[string]int{}
		for _, th := range w.threads {
			cv := th.conv
			statuses[cv.Status]++
			for _, tag := range cv.Tags {
				tags[tag]++
			}
			var last, lastIn inbox.Message
			var chans []inbox.Channel
			for i, m := range th.msgs {
				if i > 0 && m.CreatedAt.Before(th.msgs[i-1].CreatedAt) {
					t.Errorf("conversation %s: message %s is older than the one before", cv.ID, m.ID)
				}
				if m.Direction != inbox.DirectionIn && m.Direction != inbox.DirectionOut {
					continue
				}
				last = m
				if m.Direction == inbox.DirectionIn {
					lastIn = m
				}
				if !slices.Contains(chans, m.Channel) {
					chans = append(chans, m.Channel)
				}
			}
			if !cv.LastMessageAt.Equal(last.CreatedAt) || cv.LastChannel != last.Channel || cv.Preview != preview(last.Subject, last.Text) {
				t.Errorf("conversation %s: last message %s/%s/%q, want %s/%s/%q", cv.ID, cv.LastMessageAt, cv.LastChannel, cv.Preview,
					last.CreatedAt, last.Channel, preview(last.Subject, last.Text))
			}
			if !cv.LastInboundAt.Equal(lastIn.CreatedAt) {
				t.Errorf("conversation %s: last inbound %s, want %s", cv.ID, cv.LastInboundAt, lastIn.CreatedAt)
			}
			if !slices.Equal(cv.Channels, chans) {
				t.Errorf("conversation %s: channels %v, want %v", cv.ID, cv.Channels, chans)
			}
			if (cv.Status == inbox.StatusOpen) != (cv.Unread > 0) && last.Direction == inbox.DirectionIn {
				t.Errorf("conversation %s: %s with %d unread after a customer's message", cv.ID, cv.Status, cv.Unread)
			}
			if cv.Status == inbox.StatusSnoozed && !cv.SnoozedUntil.After(now) {
				t.Errorf("conversation %s snoozed until %s, which is not after now", cv.ID, cv.SnoozedUntil)
			}
			if !slices.IsSorted(cv.Tags) {
				t.Errorf("conversation %s: tags %v not sorted", cv.ID, cv.Tags)
			}
		}
		for _, s := range []inbox.Status{inbox.StatusOpen, inbox.StatusPending, inbox.StatusSnoozed, inbox.StatusResolved} {
			if statuses[s] == 0 {
				t.Errorf("no conversation is %s: %v", s, statuses)
			}
		}
		for _, tag := range []string{"pengiriman", "retur", "vip", "ukuran", "komplain", "pembayaran"} {
			if tags[tag] == 0 {
				t.Errorf("no conversation is tagged %s: %v", tag, tags)
			}
		}
	})
}

func TestMessagesLookAsTheConnectorsLeaveThem(t *testing.T) {
	worlds(t, func(t *testing.T, w World, now time.Time) {
		ext := map[string]bool{}
		for _, th := range w.threads {
			c := w.Customers[th.customer]
			for _, m := range th.msgs {
				if m.ExternalID != "" {
					key := string(m.Channel) + " " + m.ExternalID
					if ext[key] {
						t.Errorf("external id %s is used twice", key)
					}
					ext[key] = true
				}
				switch m.Direction {
				case inbox.DirectionOut:
					if m.Delivery != inbox.DeliverySent && m.Delivery != inbox.DeliveryDelivered && m.Delivery != inbox.DeliveryRead {
						t.Errorf("reply %s is %q: seeded replies must be delivered already, or the outbox would send them", m.ID, m.Delivery)
					}
					if m.ExternalID == "" || !strings.HasPrefix(m.AuthorID, agentRef) {
						t.Errorf("reply %s has external id %q, author %q", m.ID, m.ExternalID, m.AuthorID)
					}
				case inbox.DirectionIn:
					if m.AuthorID != c.ID || m.ExternalID == "" || m.Delivery != "" {
						t.Errorf("inbound %s: author %q, external id %q, delivery %q", m.ID, m.AuthorID, m.ExternalID, m.Delivery)
					}
				}
				if m.Direction != inbox.DirectionIn && m.Direction != inbox.DirectionOut {
					continue
				}
				want := map[inbox.Channel]string{
					inbox.ChannelTelegram: TelegramBotID + ":",
					inbox.ChannelWhatsApp: "wamid.",
					inbox.ChannelVoice:    "cti:",
					inbox.ChannelWidget:   map[inbox.Direction]string{inbox.DirectionIn: "v:" + c.anonID + ":", inbox.DirectionOut: "out:" + m.ID}[m.Direction],
				}[m.Channel]
				if !strings.HasPrefix(m.ExternalID, want) {
					t.Errorf("%s %s message external id %q, want prefix %q", m.Direction, m.Channel, m.ExternalID, want)
				}
				if m.Channel == inbox.ChannelEmail && (m.ThreadKey == "" || m.Subject == "") {
					t.Errorf("email %s without thread key or subject", m.ID)
				}
			}
		}
	})
}

// wordsOf are common words that tell Bahasa Indonesia from English in short chat messages.
func wordsOf(locale string) []string {
	if locale == "en" {
		return []string{"the", "my", "is", "you", "thanks", "thank", "hi", "hello", "can", "i", "it", "do", "any",
			"great", "perfect", "your", "for", "please", "photos", "attached", "cheers", "regards", "what", "sorry", "we", "happy", "help"}
	}
	return []string{"kak", "min", "saya", "pesanan", "sudah", "terima", "kasih", "makasih", "ya", "bisa", "halo", "untuk",
		"mau", "tanya", "ada", "nggak", "kapan", "siap", "baik", "oke", "tolong", "mohon", "kami", "tadi"}
}

func language(text string) string {
	score := map[string]int{}
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) }) {
		for _, l := range []string{"id", "en"} {
			if slices.Contains(wordsOf(l), w) {
				score[l]++
			}
		}
	}
	switch {
	case score["id"] > score["en"]:
		return "id"
	case score["en"] > score["id"]:
		return "en"
	}
	return "?"
}

func TestMessagesAreInTheCustomersLanguage(t *testing.T) {
	worlds(t, func(t *testing.T, w World, now time.Time) {
		seen := map[string]int{}
		for _, th := range w.threads {
			c := w.Customers[th.customer]
			for _, m := range th.msgs {
				if (m.Direction != inbox.DirectionIn && m.Direction != inbox.DirectionOut) || m.Channel == inbox.ChannelVoice {
					continue
				}
				if l := language(m.Text); l != c.Locale {
					t.Errorf("%s (%s) %s message reads as %q: %q", c.Name, c.Locale, m.Direction, l, m.Text)
				}
				if strings.ContainsAny(m.Text, "{}") {
					t.Errorf("message with an unfilled placeholder: %q", m.Text)
				}
				seen[c.Locale]++
			}
		}
		if seen["id"] == 0 || seen["en"] == 0 {
			t.Errorf("messages per language %v: want both", seen)
		}
	})
}

func TestOrdersAreConsistent(t *testing.T) {
	worlds(t, func(t *testing.T, w World, now time.Time) {
		shipped := []commerce.FulfillmentStatus{commerce.FulfillmentFulfilled, commerce.FulfillmentInTransit,
			commerce.FulfillmentOutForDelivery, commerce.FulfillmentDelivered, commerce.FulfillmentFailed}
		count := map[string]int{}
		for _, o := range w.Orders {
			if _, ok := w.CustomerByShopID(o.Contact.ShopCustomerID); !ok {
				t.Errorf("%s: no customer with shop id %q", o.ID, o.Contact.ShopCustomerID)
			}
			var sub int64
			for _, it := range o.Items {
				sub += it.Total
				if it.Total != it.UnitPrice*it.Quantity || it.UnitPrice%100 != 0 {
					t.Errorf("%s: item %s %d × %d = %d (IDR minor units of whole rupiah)", o.ID, it.SKU, it.Quantity, it.UnitPrice, it.Total)
				}
				if _, ok := itemBySKU(it.SKU); !ok {
					t.Errorf("%s: unknown SKU %s", o.ID, it.SKU)
				}
			}
			if sub != o.Subtotal || o.Total != o.Subtotal+o.Shipping-o.Discount || o.Refunded > o.Total || o.Currency != "IDR" {
				t.Errorf("%s: subtotal %d (items %d), total %d, shipping %d, discount %d, refunded %d", o.ID, o.Subtotal, sub, o.Total, o.Shipping, o.Discount, o.Refunded)
			}
			isShipped := slices.Contains(shipped, o.Fulfillment)
			switch {
			case isShipped && (len(o.Tracking) != 1 || !strings.Contains(o.Tracking[0].URL, o.Tracking[0].Number) ||
				!slices.Contains([]string{"JNE", "J&T Express", "SiCepat"}, o.Tracking[0].Carrier)):
				t.Errorf("%s: %s with tracking %+v", o.ID, o.Fulfillment, o.Tracking)
			case !isShipped && len(o.Tracking) > 0:
				t.Errorf("%s: %s but has tracking", o.ID, o.Fulfillment)
			case o.Pickup && isShipped, !o.Pickup && (o.Fulfillment == commerce.FulfillmentReadyForPickup || o.Fulfillment == commerce.FulfillmentPickedUp):
				t.Errorf("%s: pickup %v but %s", o.ID, o.Pickup, o.Fulfillment)
			case o.Cancelled && (o.Payment != commerce.PaymentVoided || o.Fulfillment != commerce.FulfillmentUnfulfilled):
				t.Errorf("%s: cancelled but %s/%s", o.ID, o.Payment, o.Fulfillment)
			case o.Fulfillment != commerce.FulfillmentUnfulfilled && o.Payment == commerce.PaymentPending:
				t.Errorf("%s: %s before it was paid", o.ID, o.Fulfillment)
			}
			if !slices.IsSortedFunc(o.History, func(a, b commerce.StatusEvent) int { return a.At.Compare(b.At) }) ||
				!o.History[len(o.History)-1].At.Equal(o.ShopUpdatedAt) {
				t.Errorf("%s: history not in order, or not ending at the order's version %s", o.ID, o.ShopUpdatedAt)
			}
			count[string(o.Fulfillment)]++
			if o.Pickup {
				count["pickup"]++
			}
			if o.Cancelled {
				count["cancelled"]++
			}
			if o.Refunded > 0 {
				count["refunded"]++
			}
		}
		for _, k := range []string{"delivered", "in_transit", "unfulfilled", "ready_for_pickup", "picked_up", "pickup", "cancelled", "refunded"} {
			if count[k] == 0 {
				t.Errorf("no order is %s: %v", k, count)
			}
		}
	})
}

func TestProductsHaveStockAndImages(t *testing.T) {
	w := Generate(testNow)
	states := map[commerce.StockState]int{}
	for _, p := range w.Products {
		states[p.StockState(3)]++
		if p.ImageURL != ImagePath(p.SKU) || !strings.HasPrefix(p.URL, ShopURL+"/p/") || p.Price <= 0 {
			t.Errorf("%s: image %q, url %q, price %d", p.SKU, p.ImageURL, p.URL, p.Price)
		}
		svg, ok := ProductImageSVG(p.SKU)
		if !ok {
			t.Errorf("%s: no image", p.SKU)
			continue
		}
		var text strings.Builder
		d := xml.NewDecoder(bytes.NewReader(svg))
		for {
			tok, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Errorf("%s: image is not well-formed XML: %v", p.SKU, err)
				break
			}
			if cd, ok := tok.(xml.CharData); ok {
				text.Write(cd)
				text.WriteByte(' ')
			}
		}
		if !strings.Contains(text.String(), strings.Fields(p.Name)[0]) {
			t.Errorf("%s: image text %q does not name %q", p.SKU, text.String(), p.Name)
		}
	}
	for _, s := range []commerce.StockState{commerce.StockOK, commerce.StockLow, commerce.StockOut} {
		if states[s] == 0 {
			t.Errorf("no product is %s: %v", s, states)
		}
	}
	if _, ok := ProductImageSVG("NO-SUCH-SKU"); ok {
		t.Error("an unknown SKU has an image")
	}
}

func TestPhrasesAndSay(t *testing.T) {
	w := Generate(testNow)
	for _, loc := range []string{"id", "en"} {
		ps := Phrases(loc)
		if len(ps) < 10 {
			t.Errorf("Phrases(%s): %d lines", loc, len(ps))
		}
		for _, p := range ps {
			if language(p) != loc || strings.ContainsAny(p, "{}") {
				t.Errorf("Phrases(%s): %q", loc, p)
			}
		}
	}
	for _, c := range w.MultiChannel() {
		for k := range 6 {
			s := w.Say(c, k)
			if s == "" || strings.ContainsAny(s, "{}") || language(s) != c.Locale {
				t.Errorf("Say(%s, %d) = %q", c.Name, k, s)
			}
			if s != w.Say(c, k) {
				t.Errorf("Say(%s, %d) is not deterministic", c.Name, k)
			}
		}
	}
}

func TestRupiah(t *testing.T) {
	for _, tc := range []struct {
		minor int64
		want  string
	}{{32500000, "Rp 325.000"}, {100, "Rp 1"}, {123456700, "Rp 1.234.567"}, {0, "Rp 0"}} {
		if got := rupiah(tc.minor); got != tc.want {
			t.Errorf("rupiah(%d) = %q, want %q", tc.minor, got, tc.want)
		}
	}
}

func TestTourCustomer(t *testing.T) {
	worlds(t, func(t *testing.T, w World, now time.Time) {
		c := w.TourCustomer()
		if !c.MultiChannel() || !c.WhatsApp || c.Tier == "" || len(w.OrdersOf(c)) == 0 {
			t.Errorf("tour customer %s: timeline %v, WhatsApp %v, tier %q, %d orders", c.Name, c.Timeline, c.WhatsApp, c.Tier, len(w.OrdersOf(c)))
		}
		if !slices.ContainsFunc(w.Carts, func(k commerce.Cart) bool {
			return k.Contact.ShopCustomerID == c.ShopID && now.Sub(k.ShopUpdatedAt) < time.Hour
		}) {
			t.Errorf("tour customer %s has no open cart", c.Name)
		}
		i := slices.IndexFunc(w.threads, func(th thread) bool { return th.conv.CustomerID == c.ID })
		if i < 0 {
			t.Fatalf("tour customer %s has no conversation", c.Name)
		}
		cv := w.threads[i].conv
		if cv.Status != inbox.StatusOpen || cv.LastChannel != inbox.ChannelWhatsApp || now.Sub(cv.LastInboundAt) > 6*time.Hour ||
			!cv.LastInboundAt.Equal(cv.LastMessageAt) {
			t.Errorf("tour conversation: %s, last on %s at %s, last inbound %s: want open, waiting on WhatsApp since the last hours",
				cv.Status, cv.LastChannel, cv.LastMessageAt, cv.LastInboundAt)
		}
	})
}
