package shop

import (
	"fmt"
	"hash/fnv"
	"strings"
	"unicode"
)

// item is one line of the shop's catalogue as the shop owner wrote it: a rupiah price in whole
// rupiah (the store keeps ISO minor units, two decimals for IDR, see commerce/money.go).
type item struct {
	SKU      string
	Name     string
	Rupiah   int64
	Category string
	// Sized marks clothes: customers ask about their measurements.
	Sized bool
}

// Stock locations: a warehouse that ships, and two stores that also hand out pickup orders.
const (
	locWarehouse = "Gudang Jakarta"
	locBandung   = "Toko Bandung"
	locJogja     = "Toko Yogyakarta"
)

// catalogue lists Toko Serambi's goods: batik, Indonesian coffee, tea and spices, kitchenware,
// crafts and body care. It is a function, not a package variable, so nothing can change it.
func catalogue() []item {
	return []item{
		{"BTK-PRG-M", "Kemeja Batik Parang Lengan Panjang (M)", 325000, "batik", true},
		{"BTK-PRG-L", "Kemeja Batik Parang Lengan Panjang (L)", 325000, "batik", true},
		{"BTK-PRG-XL", "Kemeja Batik Parang Lengan Panjang (XL)", 335000, "batik", true},
		{"BTK-MGM-M", "Kemeja Batik Mega Mendung (M)", 289000, "batik", true},
		{"BTK-MGM-L", "Kemeja Batik Mega Mendung (L)", 289000, "batik", true},
		{"BTK-KWG-S", "Dress Batik Kawung (S)", 359000, "batik", true},
		{"BTK-KWG-M", "Dress Batik Kawung (M)", 359000, "batik", true},
		{"BTK-TRT-KN", "Kain Batik Tulis Truntum", 850000, "batik", false},
		{"BTK-SDM-SL", "Selendang Batik Sidomukti", 175000, "batik", false},
		{"BTK-LRK-OT", "Outer Batik Lurik", 245000, "batik", true},
		{"BTK-PKL-SR", "Sarung Batik Pekalongan", 165000, "batik", false},
		{"BTK-MSK-3", "Masker Kain Batik (isi 3)", 45000, "batik", false},
		{"KOP-GAY-250", "Kopi Arabika Gayo 250 g", 95000, "kopi", false},
		{"KOP-TOR-250", "Kopi Toraja Sapan 250 g", 105000, "kopi", false},
		{"KOP-KNT-250", "Kopi Kintamani Bali 250 g", 98000, "kopi", false},
		{"KOP-FLR-250", "Kopi Flores Bajawa 250 g", 99000, "kopi", false},
		{"KOP-JAV-1K", "Kopi Java Preanger 1 kg", 340000, "kopi", false},
		{"KOP-ROB-500", "Kopi Robusta Lampung 500 g", 85000, "kopi", false},
		{"KOP-LUW-100", "Kopi Luwak Liar 100 g", 450000, "kopi", false},
		{"KOP-V60-SET", "Set Seduh V60 Keramik", 275000, "kopi", false},
		{"KOP-GRN-MAN", "Grinder Kopi Manual", 315000, "kopi", false},
		{"KOP-TBR-200", "Kopi Tubruk Kaleng Klasik 200 g", 55000, "kopi", false},
		{"TEH-MLT-100", "Teh Melati Tubruk 100 g", 32000, "teh", false},
		{"TEH-HJU-100", "Teh Hijau Bandung 100 g", 42000, "teh", false},
		{"RMP-JHE-250", "Jahe Merah Bubuk 250 g", 38000, "teh", false},
		{"RMP-KMD-350", "Kayu Manis & Madu Hutan 350 ml", 89000, "teh", false},
		{"RMP-WDG-10", "Wedang Uwuh Jogja (isi 10)", 35000, "teh", false},
		{"SMB-ROA-200", "Sambal Roa Manado 200 g", 49000, "dapur", false},
		{"SMB-BWG-150", "Sambal Bawang Pedas 150 g", 29000, "dapur", false},
		{"MDU-SMB-500", "Madu Hutan Sumbawa 500 g", 135000, "teh", false},
		{"DPR-CBK-20", "Cobek Batu Andesit 20 cm", 120000, "dapur", false},
		{"DPR-KKS-3", "Kukusan Bambu Set 3", 85000, "dapur", false},
		{"DPR-WJN-28", "Wajan Besi Tuang 28 cm", 289000, "dapur", false},
		{"DPR-TDS-RTN", "Tudung Saji Rotan", 95000, "dapur", false},
		{"DPR-TLN-JTI", "Talenan Kayu Jati", 110000, "dapur", false},
		{"DPR-GLS-4", "Gelas Tembikar Kasongan (isi 4)", 160000, "dapur", false},
		{"DPR-PNC-GRB", "Panci Gerabah Kecil", 98000, "dapur", false},
		{"DPR-SDK-SNK", "Set Sendok Kayu Sonokeling", 75000, "dapur", false},
		{"KRJ-TAS-RTN", "Tas Anyaman Rotan Bulat", 235000, "kerajinan", false},
		{"KRJ-KRJ-PDN", "Keranjang Pandan Serbaguna", 89000, "kerajinan", false},
		{"KRJ-LMP-BMB", "Lampu Gantung Bambu", 265000, "kerajinan", false},
		{"KRJ-WYG-ARJ", "Wayang Kulit Arjuna (Hiasan)", 395000, "kerajinan", false},
		{"KRJ-TKR-PDN", "Tikar Pandan Lipat", 145000, "kerajinan", false},
		{"KRJ-BTL-LRK", "Bantal Sofa Tenun Lurik", 125000, "kerajinan", false},
		{"KRJ-TPL-IKT", "Taplak Meja Tenun Ikat", 185000, "kerajinan", false},
		{"PRW-LLR-200", "Lulur Tradisional Jawa 200 g", 55000, "perawatan", false},
		{"PRW-SBN-SRH", "Sabun Sereh Wangi Alami", 25000, "perawatan", false},
		{"PRW-VCO-250", "Minyak Kelapa Murni VCO 250 ml", 65000, "perawatan", false},
		{"PRW-ARM-MLT", "Aromaterapi Melati 10 ml", 48000, "perawatan", false},
		{"PRW-BDK-BRS", "Bedak Dingin Beras Kencur", 22000, "perawatan", false},
		{"HMP-LBR-NUS", "Paket Hampers Lebaran Nusantara", 499000, "hampers", false},
		{"HMP-KRT-5", "Kartu Ucapan Batik (isi 5)", 30000, "hampers", false},
	}
}

func itemBySKU(sku string) (item, bool) {
	for _, it := range catalogue() {
		if it.SKU == sku {
			return it, true
		}
	}
	return item{}, false
}

// slug is the product's path on the shop's site.
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// ImagePath is where Serambi serves a product's generated image, relative to its base URL.
func ImagePath(sku string) string { return "/demo/img/" + sku + ".svg" }

// categoryColours are tile colours per category: batik indigo, coffee brown and so on.
func categoryColour(category string) (bg, fg string) {
	switch category {
	case "batik":
		return "#27408b", "#f5e6c8"
	case "kopi":
		return "#5b3a29", "#f3e3d3"
	case "teh":
		return "#3f6b3a", "#eef5e4"
	case "dapur":
		return "#8a4b2a", "#fbeee0"
	case "kerajinan":
		return "#a0782c", "#fff7e3"
	case "perawatan":
		return "#7a4d7e", "#f7ecf8"
	}
	return "#b23a48", "#fff1f1"
}

// ProductImageSVG returns the generated image of a catalogue product: a tile in its category's
// colour with its initials and name, so that product cards show pictures without a network.
func ProductImageSVG(sku string) ([]byte, bool) {
	sku = strings.TrimSuffix(sku, ".svg")
	it, ok := itemBySKU(sku)
	if !ok {
		return nil, false
	}
	bg, fg := categoryColour(it.Category)
	h := fnv.New32a()
	h.Write([]byte(it.SKU))
	// A second, lighter circle placed by the SKU's hash, so neighbouring tiles differ.
	cx, cy := 40+int(h.Sum32()%160), 30+int((h.Sum32()>>8)%60)
	lines := wrap(it.Name, 20, 3)
	var text strings.Builder
	for i, l := range lines {
		fmt.Fprintf(&text, `<text x="120" y="%d" font-size="15" text-anchor="middle" fill="%s">%s</text>`,
			170+i*19, fg, xmlEscape(l))
	}
	svg := fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="240" height="240" viewBox="0 0 240 240" role="img" aria-label="%s">`+
		`<rect width="240" height="240" rx="18" fill="%s"/>`+
		`<circle cx="%d" cy="%d" r="70" fill="%s" opacity="0.12"/>`+
		`<text x="120" y="118" font-family="Georgia,serif" font-size="64" font-weight="bold" text-anchor="middle" fill="%s">%s</text>`+
		`<g font-family="Helvetica,Arial,sans-serif">%s</g></svg>`,
		xmlEscape(it.Name), bg, cx, cy, fg, fg, xmlEscape(initials(it.Name)), text.String())
	return []byte(svg), true
}

// initials are the first letters of the name's first two words that start with a letter.
func initials(name string) string {
	var out []rune
	for _, w := range strings.Fields(name) {
		r := []rune(w)[0]
		if unicode.IsLetter(r) {
			out = append(out, unicode.ToUpper(r))
		}
		if len(out) == 2 {
			break
		}
	}
	return string(out)
}

// wrap breaks s into at most n lines of about width characters.
func wrap(s string, width, n int) []string {
	var lines []string
	cur := ""
	for _, w := range strings.Fields(s) {
		switch {
		case cur == "":
			cur = w
		case len(cur)+1+len(w) <= width:
			cur += " " + w
		default:
			lines = append(lines, cur)
			cur = w
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	if len(lines) > n {
		lines = lines[:n]
		lines[n-1] += "…"
	}
	return lines
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}
