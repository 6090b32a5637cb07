package shop

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/serambi/serambi/inbox"
)

func indonesianNames() (female, male, family []string) {
	female = []string{"Siti", "Dewi", "Ayu", "Putri", "Rina", "Wulan", "Indah", "Fitri", "Nur", "Lestari", "Sri", "Ratna",
		"Maya", "Nadia", "Anisa", "Dian", "Intan", "Kartika", "Rahma", "Yuliana", "Mega", "Novi", "Citra", "Ika", "Larasati",
		"Nia", "Tiara", "Aulia", "Bunga", "Salsabila"}
	male = []string{"Budi", "Agus", "Andi", "Rizky", "Dimas", "Fajar", "Hendra", "Joko", "Wahyu", "Arif", "Bayu", "Eko",
		"Yoga", "Reza", "Taufik", "Hadi", "Ilham", "Gilang", "Teguh", "Bambang", "Made", "Ketut", "Wayan", "Dedi", "Yusuf",
		"Aditya", "Galih", "Irfan", "Rudi", "Satria"}
	family = []string{"Santoso", "Wijaya", "Pratama", "Saputra", "Hidayat", "Nugroho", "Kurniawan", "Setiawan", "Susanto",
		"Siregar", "Nasution", "Simanjuntak", "Harahap", "Tanjung", "Wibowo", "Rahmawati", "Purnomo", "Utami", "Gunawan",
		"Halim", "Sinaga", "Manurung", "Lubis", "Permana", "Ramadhan", "Firmansyah", "Sulistyo", "Hakim", "Putra", "Anggraini",
		"Suryadi", "Maharani", "Hasibuan", "Kusuma", "Wirawan"}
	return
}

func englishNames() (first, family []string) {
	first = []string{"Emma", "James", "Olivia", "Liam", "Sophie", "Daniel", "Chloe", "Michael", "Hannah", "Lucas", "Grace",
		"Ethan", "Mia", "Noah", "Charlotte", "Oliver", "Amelia", "Jack", "Isla", "Thomas"}
	family = []string{"Taylor", "Smith", "Brown", "Wilson", "Clarke", "Evans", "Walker", "Hughes", "Lee", "Tan", "Wong",
		"Nguyen", "Murphy", "Baker", "Cooper", "Turner", "Lim", "Harris", "Bennett", "Reid"}
	return
}

// Email domains are reserved for documentation (RFC 2606), so that no reply in a demo can reach
// a real mailbox whatever mail server it is pointed at.
func emailDomains() []string {
	return []string{"example.com", "example.net", "example.org", "mail.example.com", "kantor.example.net"}
}

func firstName(full string) string {
	f, _, _ := strings.Cut(full, " ")
	return f
}

// customers makes the people: a few regulars on three or more channels, many buyers, and
// prospects who wrote in but never ordered. About one in six writes in English.
func (g *generator) customers() {
	idF, idM, idFam := indonesianNames()
	enF, enFam := englishNames()
	seenName, seenEmail, seenPhone := map[string]bool{}, map[string]bool{}, map[string]bool{}
	seenTG := map[int64]bool{}
	shopSeq := 10001
	for i := range g.size.customers {
		seg := segBuyer
		switch {
		case i%12 == 3 && i/12 < g.size.regulars:
			seg = segRegular
		case i%7 == 5 && i/7 < g.size.prospects:
			seg = segProspect
		}
		c := Customer{segment: seg, Locale: "id"}
		if g.r.IntN(100) < 16 {
			c.Locale = "en"
		}
		for {
			if c.Locale == "en" {
				c.Name = pick(g.r, enF) + " " + pick(g.r, enFam)
			} else if g.r.IntN(2) == 0 {
				c.Name = pick(g.r, idF) + " " + pick(g.r, idFam)
			} else {
				c.Name = pick(g.r, idM) + " " + pick(g.r, idFam)
			}
			if !seenName[c.Name] {
				seenName[c.Name] = true
				break
			}
		}
		has := func(pct int) bool { return g.r.IntN(100) < pct }
		var email, phone, telegram, widget bool
		switch seg {
		case segRegular:
			email, phone, c.WhatsApp = true, true, true
			widget, telegram = has(70), has(45)
		case segBuyer:
			email, phone = has(95), has(85)
			c.WhatsApp = phone && has(55)
			widget, telegram = has(20), has(8)
		case segProspect:
			switch n := g.r.IntN(100); {
			case n < 40:
				widget = true
			case n < 65:
				phone, c.WhatsApp = true, true
			case n < 85:
				telegram = true
			default:
				email = true
			}
		}
		if !email && !phone && !telegram && !widget {
			email = true
		}
		if seg != segProspect {
			c.ShopID = fmt.Sprintf("cus-%d", shopSeq)
			shopSeq++
		}
		if email {
			c.Email = g.email(c.Name, seenEmail)
		}
		if phone {
			c.Phone = g.phone(c.Locale, seenPhone)
		}
		if telegram {
			for c.TelegramID == 0 || seenTG[c.TelegramID] {
				c.TelegramID = 100_000_000 + g.r.Int64N(7_000_000_000)
			}
			seenTG[c.TelegramID] = true
			if has(70) {
				c.TelegramUsername = strings.ToLower(strings.ReplaceAll(c.Name, " ", "_"))
				if has(50) {
					c.TelegramUsername += fmt.Sprint(g.r.IntN(99) + 1)
				}
			}
		}
		c.anonID = g.visitorID(g.token())
		if widget {
			if c.ShopID != "" {
				c.WidgetVisitor = "s:" + c.ShopID
			} else {
				c.WidgetToken = g.token()
				c.anonID = g.visitorID(c.WidgetToken)
				c.WidgetVisitor = "v:" + c.anonID
			}
		}
		c.Channels = channelsOf(c)
		g.w.Customers = append(g.w.Customers, c)
	}
}

// channelsOf lists the channels a customer can write on.
func channelsOf(c Customer) []inbox.Channel {
	var out []inbox.Channel
	if c.WhatsApp {
		out = append(out, inbox.ChannelWhatsApp)
	}
	if c.Email != "" {
		out = append(out, inbox.ChannelEmail)
	}
	if c.TelegramID != 0 {
		out = append(out, inbox.ChannelTelegram)
	}
	if c.WidgetVisitor != "" {
		out = append(out, inbox.ChannelWidget)
	}
	if c.Phone != "" {
		out = append(out, inbox.ChannelVoice)
	}
	return out
}

func (g *generator) email(name string, seen map[string]bool) string {
	parts := strings.Fields(strings.ToLower(name))
	for n := 0; ; n++ {
		var local string
		switch g.r.IntN(4) {
		case 0:
			local = parts[0] + "." + parts[1]
		case 1:
			local = parts[0] + parts[1] + fmt.Sprint(g.r.IntN(90)+10)
		case 2:
			local = parts[0] + "_" + parts[1][:1]
		default:
			local = parts[1] + "." + parts[0]
		}
		if n > 2 {
			local += fmt.Sprint(n)
		}
		e := local + "@" + pick(g.r, emailDomains())
		if !seen[e] {
			seen[e] = true
			return e
		}
	}
}

// phone returns a valid, unused mobile number in E.164: Indonesian for most, and Singaporean,
// Australian or British for some English speakers.
func (g *generator) phone(locale string, seen map[string]bool) string {
	idPrefixes := []string{"811", "812", "813", "821", "822", "823", "852", "853", "856", "857", "858", "877", "878",
		"881", "882", "895", "896", "897", "898"}
	digits := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(byte('0' + g.r.IntN(10)))
		}
		return b.String()
	}
	for {
		var p string
		switch n := g.r.IntN(10); {
		case locale != "en" || n < 4:
			p = "+62" + pick(g.r, idPrefixes) + digits(8)
		case n < 7:
			p = "+65" + pick(g.r, []string{"8", "9"}) + digits(7)
		case n < 9:
			p = "+614" + digits(8)
		default:
			p = "+447" + pick(g.r, []string{"4", "5", "7", "8", "9"}) + digits(8)
		}
		num, err := phonenumbers.Parse(p, "ID")
		if err != nil || !phonenumbers.IsValidNumber(num) || phonenumbers.Format(num, phonenumbers.E164) != p || seen[p] {
			continue
		}
		seen[p] = true
		return p
	}
}

// token is a widget visitor token as the widget mints it: 24 random bytes, base64url.
func (g *generator) token() string {
	b := make([]byte, 24)
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// visitorID is the public name of a widget token, as connectors/widget/identity.go derives it.
func (g *generator) visitorID(token string) string {
	h := sha256.Sum256([]byte("serambi-widget-visitor\x00" + token))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

// identities are the customer's inbox identities, all verified, added when Serambi first heard
// of them.
func identities(c Customer) []inbox.Identity {
	var ids []inbox.Identity
	add := func(k inbox.IdentityKind, v string) {
		if v != "" {
			ids = append(ids, inbox.Identity{Kind: k, Value: v, Verified: true, AddedAt: c.since})
		}
	}
	add(inbox.KindShop, c.ShopID)
	add(inbox.KindEmail, c.Email)
	add(inbox.KindPhone, c.Phone)
	if c.WhatsApp {
		add(inbox.KindWhatsApp, c.Phone)
	}
	if c.TelegramID != 0 {
		add(inbox.KindTelegram, fmt.Sprint(c.TelegramID))
	}
	add(inbox.KindWidget, c.WidgetVisitor)
	return slices.Clip(ids)
}
