package i18n

import (
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/currency"
)

// Relative is the compact age used in lists: "now", "2m", "3h", "4d"; older than a week it is
// the date ("12 Nov", or "12 Nov 2025" in another year). The full time goes in a tooltip.
func (l *Localizer) Relative(t, now time.Time, loc *time.Location) string {
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	u := l.names
	switch {
	case d < time.Minute:
		return u.now
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + u.min
	case d < 24*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + u.hour
	case d < 7*24*time.Hour:
		return strconv.Itoa(int(d/(24*time.Hour))) + u.day
	}
	return l.Day(t, now, loc)
}

// Day is a calendar date in the reader's zone: "12 Nov", with the year when it is not this year.
func (l *Localizer) Day(t, now time.Time, loc *time.Location) string {
	t, now = t.In(loc), now.In(loc)
	s := strconv.Itoa(t.Day()) + " " + l.names.months[t.Month()-1]
	if t.Year() != now.Year() {
		s += " " + strconv.Itoa(t.Year())
	}
	return s
}

// Clock is the time of day in the reader's zone, 24-hour as both languages write it.
func (l *Localizer) Clock(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("15:04")
}

// Absolute is the full date and time with the zone, for tooltips: "Tue 24 Nov 2026, 09:05 WIB".
func (l *Localizer) Absolute(t time.Time, loc *time.Location) string {
	t = t.In(loc)
	return l.names.weekdays[t.Weekday()] + " " + strconv.Itoa(t.Day()) + " " + l.names.months[t.Month()-1] + " " +
		strconv.Itoa(t.Year()) + ", " + t.Format("15:04 MST")
}

// langNames are the short words of a language's dates and ages.
type langNames struct {
	now, min, hour, day string
	months              [12]string
	weekdays            [7]string
	thousands, decimal  string
}

func namesFor(lang string) langNames {
	if lang == "id" {
		return langNames{now: "baru", min: "mnt", hour: "j", day: "h",
			months:    [12]string{"Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"},
			weekdays:  [7]string{"Min", "Sen", "Sel", "Rab", "Kam", "Jum", "Sab"},
			thousands: ".", decimal: ","}
	}
	return langNames{now: "now", min: "m", hour: "h", day: "d",
		months:    [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"},
		weekdays:  [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"},
		thousands: ",", decimal: "."}
}

// symbolFor is the sign written before an amount; spaced ones get a space ("Rp 4.250.000", "$12.50").
func symbolFor(code string) (sym string, spaced, ok bool) {
	switch code {
	case "IDR":
		return "Rp", true, true
	case "MYR":
		return "RM", true, true
	case "USD":
		return "$", false, true
	case "EUR":
		return "€", false, true
	case "SGD":
		return "S$", false, true
	case "JPY":
		return "¥", false, true
	case "GBP":
		return "£", false, true
	case "AUD":
		return "A$", false, true
	}
	return "", false, false
}

// Money formats an amount in minor units of an ISO 4217 currency (the rupiah has two: 425000000
// is Rp 4.250.000) for the reader's language: "Rp 4.250.000" in Indonesian, "Rp 4,250,000" in
// English. Currencies whose cash has no minor unit (the rupiah) drop a zero fraction; others
// always show it ("$12.00").
func (l *Localizer) Money(minor int64, code string) string {
	code = strings.ToUpper(code)
	scale, cashScale := isoDigits(code), 2
	if u, err := currency.ParseISO(code); err == nil {
		cashScale, _ = currency.Cash.Rounding(u)
	}
	neg := minor < 0
	if neg {
		minor = -minor
	}
	pow := int64(1)
	for i := 0; i < scale; i++ {
		pow *= 10
	}
	whole, frac := minor/pow, minor%pow
	num := group(strconv.FormatInt(whole, 10), l.names.thousands)
	if scale > 0 && (frac != 0 || cashScale > 0) {
		f := strconv.FormatInt(frac, 10)
		num += l.names.decimal + strings.Repeat("0", scale-len(f)) + f
	}
	out := code + " " + num
	if sym, spaced, ok := symbolFor(code); ok {
		out = sym + num
		if spaced {
			out = sym + " " + num
		}
	}
	if neg {
		out = "-" + out
	}
	return out
}

// MoneyRounded is Money for a computed amount (an average): rounded to the currency's cash unit,
// so an average order in rupiah reads "Rp 443.063", not "Rp 443.062,50".
func (l *Localizer) MoneyRounded(minor int64, code string) string {
	up := strings.ToUpper(code)
	scale, cashScale := isoDigits(up), 2
	if u, err := currency.ParseISO(up); err == nil {
		cashScale, _ = currency.Cash.Rounding(u)
	}
	if step := pow10(scale - cashScale); step > 1 {
		half := step / 2
		if minor < 0 {
			minor = -((-minor + half) / step * step)
		} else {
			minor = (minor + half) / step * step
		}
	}
	return l.Money(minor, code)
}

func pow10(n int) int64 {
	p := int64(1)
	for ; n > 0; n-- {
		p *= 10
	}
	return p
}

func group(digits, sep string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	first := len(digits) % 3
	if first > 0 {
		b.WriteString(digits[:first])
	}
	for i := first; i < len(digits); i += 3 {
		if b.Len() > 0 {
			b.WriteString(sep)
		}
		b.WriteString(digits[i : i+3])
	}
	return b.String()
}

// isoDigits is a currency's ISO 4217 minor unit: how many decimals its minor units stand for.
// (golang.org/x/text follows CLDR's display digits instead, which give the rupiah none.)
func isoDigits(code string) int {
	switch code {
	case "JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "XPF", "PYG", "RWF", "KMF", "GNF", "VUV", "BIF", "DJF":
		return 0
	case "BHD", "KWD", "OMR", "JOD", "IQD", "LYD", "TND":
		return 3
	}
	return 2
}
