package shop

import (
	"strings"
)

// Messages are written from templates with the customer's own details substituted, so that 300
// customers do not all say the same thing and what they say matches their orders:
//
//	{first} customer's first name   {order} order number   {product} product name
//	{carrier} courier   {tracking} tracking number   {url} tracking URL   {amount} an amount
//	{agent} the agent's first name   {store} the pickup store   {eta} when it arrives

// lines holds the variants of one line in both languages.
type lines struct{ id, en []string }

func (l lines) in(locale string) []string {
	if locale == "en" {
		return l.en
	}
	return l.id
}

// topic is one kind of support question, with what each side says.
type topic struct {
	key string
	// tag is what the agent tags the conversation with.
	tag     string
	subject lines // email subject of the customer's first mail
	ask     lines // the customer's question
	more    lines // an optional second message right after it
	note    []string
	answer  lines // the agent's answer
	thanks  lines // the customer's reply to the answer
	close   lines // the agent's last word
	// exchange: the first answer is for an exchange, the second for a refund (returns).
	exchange bool
	// call is what the agent notes after a phone call about this topic.
	call string
}

// Topic keys. Each needs different facts: an order in transit, a delivered order, a sized product.
const (
	tShipping = "shipping"
	tSize     = "size"
	tReturn   = "return"
	tPayment  = "payment"
	tDamaged  = "damaged"
	tStock    = "stock"
	tThanks   = "thanks"
	tPickup   = "pickup"
	tAddress  = "address"
	tPromo    = "promo"
	tPresale  = "presale"
)

func thanksLines() lines {
	return lines{
		id: []string{"Oke kak, makasih banyak infonya 🙏", "Siap, terima kasih ya min!", "Baik kak, saya tunggu. Makasih 🙏",
			"Mantap, terima kasih atas bantuannya.", "Oke noted kak 👍"},
		en: []string{"Great, thanks a lot!", "Perfect, thank you so much.", "Thanks, that's really helpful.",
			"Brilliant, cheers!", "OK, thank you for the quick reply."},
	}
}

func closeLines() lines {
	return lines{
		id: []string{"Sama-sama Kak {first} 🙏 Kalau ada yang ingin ditanyakan lagi, kabari kami ya.",
			"Terima kasih kembali kak, semoga harinya menyenangkan 😊", "Sama-sama kak, senang bisa membantu 🙏"},
		en: []string{"You're welcome, {first}! Let us know if there's anything else.", "Happy to help — have a lovely day!",
			"Any time, {first}. Enjoy!"},
	}
}

// topics returns every topic. A function, not a variable: nothing may change it.
func topics() []topic {
	return []topic{
		{
			key: tShipping, tag: "pengiriman",
			subject: lines{id: []string{"Pesanan {order} belum sampai", "Status pengiriman {order}"},
				en: []string{"Where is my order {order}?", "Delivery status of {order}"}},
			ask: lines{
				id: []string{"Halo min, pesanan saya {order} kok belum sampai ya? Kapan paket saya sampai?",
					"Kak, paket {order} posisinya di mana ya sekarang? Dari kemarin belum ada update.",
					"Permisi, mau tanya nomor resi untuk pesanan {order} dong 🙏",
					"Min, kapan paket saya sampai? Nomor pesanan {order}.",
					"Selamat siang, pesanan {order} sudah dikirim belum ya kak? Mau dipakai hari Sabtu."},
				en: []string{"Hi, where is my order {order}? The tracking hasn't moved for a day.",
					"Hello! When will my parcel arrive? It's order {order}.",
					"Could you send me the tracking number for {order}, please?",
					"Hi there, any news on {order}? I need it before the weekend."},
			},
			more: lines{id: []string{"Soalnya mau buat kado 🙏", "Mohon dibantu ya kak."},
				en: []string{"It's a birthday present, so a bit anxious!", "Thanks in advance."}},
			note: []string{"Cek di sistem {carrier}: paket sudah di hub kota tujuan.", "Resi {tracking} valid, sudah discan kurir pagi ini."},
			answer: lines{
				id: []string{"Halo Kak {first}, pesanan {order} sudah dikirim lewat {carrier} dengan resi {tracking}. Bisa dicek di {url} 🙏 Estimasi tiba {eta}.",
					"Hai Kak {first}, terima kasih sudah menunggu. Paketnya sedang dalam perjalanan dengan {carrier} (resi {tracking}), perkiraan sampai {eta} ya."},
				en: []string{"Hi {first}, your order {order} is on its way with {carrier}, tracking number {tracking} ({url}). It should arrive {eta}.",
					"Thanks for waiting, {first}! {order} shipped with {carrier} (tracking {tracking}) and is expected {eta}."},
			},
			thanks: thanksLines(), close: closeLines(),
			call: "Telepon: pelanggan tanya posisi paket {order}. Sudah dijelaskan, resi {tracking} ({carrier}).",
		},
		{
			key: tSize, tag: "ukuran",
			subject: lines{id: []string{"Tanya ukuran {product}"}, en: []string{"Sizing question: {product}"}},
			ask: lines{
				id: []string{"Kak, {product} itu lingkar dadanya berapa ya? Biasanya saya pakai M tapi agak sempit.",
					"Mau tanya, {product} bahannya katun atau rayon? Kalau dicuci luntur nggak?",
					"Min, tinggi saya 170 cm berat 68 kg, cocoknya ukuran apa untuk {product}?"},
				en: []string{"Hi, what are the measurements of {product}? I'm usually a medium in European sizes.",
					"Is {product} cotton? And does it run small?"},
			},
			answer: lines{
				id: []string{"Halo Kak {first}, untuk {product} lingkar dadanya 108 cm dan panjang 74 cm. Kalau biasanya M terasa sempit, naik satu ukuran lebih pas kak 😊",
					"Bahannya katun primisima kak, adem dan tidak luntur kalau dicuci dengan tangan. Untuk tinggi 170 cm / 68 kg kami sarankan L 🙏"},
				en: []string{"Hi {first}, {product} measures 108 cm around the chest and 74 cm long. Our sizes run a little small, so if you're usually a medium, go one size up.",
					"It's 100% primisima cotton, {first} — soft and colourfast if you hand-wash it. Our sizes run small, so one size up is the safe choice."},
			},
			thanks: thanksLines(), close: closeLines(),
			call: "Telepon: tanya ukuran {product}, disarankan naik satu ukuran.",
		},
		{
			key: tReturn, tag: "retur", exchange: true,
			subject: lines{id: []string{"Retur pesanan {order}"}, en: []string{"Return for order {order}"}},
			ask: lines{
				id: []string{"Min, saya mau retur {product} dari pesanan {order}, ukurannya kebesaran. Bisa tukar ukuran?",
					"Kak, {product} dari pesanan {order} warnanya beda dengan di foto. Bisa dikembalikan?",
					"Halo, bisa tukar {product} (pesanan {order}) dengan ukuran lain nggak kak?"},
				en: []string{"I'd like to return {product} from order {order}, it doesn't fit. How do I do that?",
					"Hi, the colour of {product} (order {order}) is quite different from the photos. Can I send it back?"},
			},
			note: []string{"Retur disetujui, ongkir retur kita tanggung. Tunggu barang sampai Gudang Jakarta.",
				"Sudah cek foto dari pelanggan, kondisi barang masih bagus dan label lengkap. OK untuk tukar ukuran."},
			answer: lines{
				id: []string{"Bisa Kak {first} 🙏 Silakan kirim kembali {product} ke Gudang Jakarta (alamat kami kirim via email), ongkir retur kami ganti. Setelah barang sampai, penukaran kami proses 1–2 hari kerja.",
					"Tentu kak. Retur untuk {order} sudah kami setujui, dana {amount} kami kembalikan begitu barang kami terima."},
				en: []string{"Sorry it didn't fit, {first}! Please send {product} back to our Jakarta warehouse — we'll cover the return shipping and send the other size as soon as it arrives.",
					"Of course, {first}. The return for {order} is approved; we'll refund {amount} as soon as the parcel reaches us."},
			},
			thanks: thanksLines(), close: closeLines(),
			call: "Telepon: pelanggan minta retur {product} ({order}). Disetujui, instruksi dikirim via email.",
		},
		{
			key: tPayment, tag: "pembayaran",
			subject: lines{id: []string{"Konfirmasi pembayaran {order}"}, en: []string{"Payment for order {order}"}},
			ask: lines{
				id: []string{"Sudah transfer ya min untuk pesanan {order} sebesar {amount}. Mohon dicek 🙏",
					"Kak, saya sudah bayar via virtual account tapi status pesanan {order} masih menunggu pembayaran.",
					"Halo, pembayaran {order} pakai GoPay sudah berhasil ya kak?"},
				en: []string{"I've paid {amount} for order {order} by bank transfer, can you confirm?",
					"Hi, I paid for {order} but the status still says awaiting payment."},
			},
			note: []string{"Mutasi BCA sudah masuk {amount}, cocok dengan {order}."},
			answer: lines{
				id: []string{"Terima kasih Kak {first}, pembayaran {amount} untuk {order} sudah kami terima dan pesanan segera kami kemas hari ini 🙏",
					"Sudah masuk kak 🙏 Status {order} sudah kami perbarui menjadi lunas, pengiriman hari ini."},
				en: []string{"Thanks {first}, we've received your payment of {amount} for {order}; it will be packed and shipped today.",
					"All sorted, {first} — the payment for {order} came through and the order is now being packed."},
			},
			thanks: thanksLines(), close: closeLines(),
			call: "Telepon: konfirmasi pembayaran {order}, sudah dicek dan lunas.",
		},
		{
			key: tDamaged, tag: "komplain",
			subject: lines{id: []string{"Barang rusak - pesanan {order}"}, en: []string{"Damaged item in order {order}"}},
			ask: lines{
				id: []string{"Kecewa banget min, {product} yang datang pecah. Pesanan {order}. Gimana ini?",
					"Paket {order} sudah sampai tapi isinya kurang, {product} tidak ada.",
					"Kak, {product} dari pesanan {order} jahitannya lepas. Baru sekali pakai 😞"},
				en: []string{"My {product} arrived broken (order {order}). Really disappointed.",
					"Order {order} arrived but {product} is missing from the box."},
			},
			more: lines{id: []string{"Fotonya saya lampirkan ya.", "Tolong segera ditindaklanjuti."},
				en: []string{"Photos attached.", "Please let me know what you can do."}},
			note: []string{"Minta tim gudang cek rekaman CCTV packing {order}.", "Kirim pengganti {product} hari ini, prioritas. Tidak perlu retur barang rusak."},
			answer: lines{
				id: []string{"Mohon maaf sekali Kak {first} 🙏 Kami kirimkan pengganti {product} hari ini tanpa biaya, resinya kami kabari segera.",
					"Maaf atas ketidaknyamanannya Kak {first}. Pengganti {product} sudah kami siapkan dan dikirim hari ini dengan {carrier}."},
				en: []string{"I'm so sorry, {first}. We're sending a replacement {product} today at no cost, and I'll share the tracking number as soon as it's out.",
					"Apologies for this, {first} — a replacement {product} ships today, no need to send the damaged one back."},
			},
			thanks: lines{id: []string{"Oke kak, terima kasih responnya cepat 🙏", "Baik, saya tunggu penggantinya."},
				en: []string{"Thank you, that's very kind.", "OK, thanks for sorting it out so quickly."}},
			close: closeLines(),
			call:  "Telepon: komplain {product} rusak ({order}). Pengganti dikirim hari ini.",
		},
		{
			key: tStock, tag: "stok",
			subject: lines{id: []string{"Stok {product}"}, en: []string{"Is {product} in stock?"}},
			ask: lines{
				id: []string{"{product} kapan restock kak?", "Kak, {product} masih ready? Mau ambil 2.",
					"Min, {product} ada stok di Toko Bandung nggak? Mau ambil langsung."},
				en: []string{"Is {product} back in stock anytime soon?", "Do you still have {product}? I'd like two."},
			},
			answer: lines{
				id: []string{"Halo Kak {first}, {product} restock minggu depan. Mau kami kabari begitu tersedia? 😊",
					"Masih ready kak, tapi stok tinggal sedikit. Silakan langsung checkout ya 🙏"},
				en: []string{"Hi {first}, {product} is due back next week — shall I let you know when it's in?",
					"Yes, {first}, we still have a few left. Grab them while they last!"},
			},
			thanks: thanksLines(), close: closeLines(),
			call: "Telepon: tanya stok {product}.",
		},
		{
			key: tThanks, tag: "",
			subject: lines{id: []string{"Terima kasih!"}, en: []string{"Thank you!"}},
			ask: lines{
				id: []string{"Paketnya sudah sampai, {product} bagus banget! Makasih ya 🙏",
					"Pesanan {order} sudah saya terima, packingnya rapi sekali. Terima kasih Toko Serambi!",
					"Kopinya enak banget kak, pasti order lagi 😍"},
				en: []string{"Got my parcel today — {product} is lovely. Thank you!",
					"Order {order} arrived safe and sound, beautifully packed. Thanks!"},
			},
			answer: lines{
				id: []string{"Wah senang dengarnya Kak {first}! Terima kasih sudah belanja di Toko Serambi 🙏",
					"Terima kasih banyak Kak {first} 😊 Ditunggu pesanan berikutnya ya!"},
				en: []string{"So glad you like it, {first}! Thanks for shopping with Toko Serambi.",
					"That made our day, {first} — thank you!"},
			},
			close: closeLines(),
			call:  "Telepon: pelanggan menyampaikan terima kasih.",
		},
		{
			key: tPickup, tag: "ambil-di-toko",
			subject: lines{id: []string{"Ambil pesanan {order} di toko"}, en: []string{"Collecting order {order}"}},
			ask: lines{
				id: []string{"Pesanan {order} sudah bisa diambil di toko belum kak?", "Kak, saya bisa ambil pesanan {order} sore ini jam berapa?"},
				en: []string{"Is my order {order} ready for pickup?", "What time can I collect {order} today?"},
			},
			answer: lines{
				id: []string{"Sudah siap diambil di {store} kak, buka 09.00–21.00. Tunjukkan nomor pesanan {order} di kasir ya 🙏"},
				en: []string{"Yes {first}, it's ready at {store}, open 9am–9pm. Just show order number {order} at the till."},
			},
			thanks: thanksLines(), close: closeLines(),
			call: "Telepon: tanya pengambilan {order} di {store}.",
		},
		{
			key: tAddress, tag: "pengiriman",
			subject: lines{id: []string{"Ganti alamat pesanan {order}"}, en: []string{"Change of address for {order}"}},
			ask: lines{
				id: []string{"Min, boleh ganti alamat pengiriman pesanan {order}? Saya salah tulis nomor rumah.",
					"Kak, pesanan {order} bisa dikirim ke alamat kantor saja?"},
				en: []string{"Can I change the delivery address for {order}? I typed the wrong house number.",
					"Could {order} go to my office address instead?"},
			},
			note: []string{"Alamat {order} sudah diubah di sistem sebelum pickup kurir."},
			answer: lines{
				id: []string{"Bisa kak, pesanan {order} belum diserahkan ke kurir. Alamatnya sudah kami perbarui 🙏"},
				en: []string{"No problem, {first} — {order} hadn't left yet, so we've updated the address."},
			},
			thanks: thanksLines(), close: closeLines(),
			call: "Telepon: ganti alamat {order}, sudah diperbarui.",
		},
		{
			key: tPromo, tag: "promo",
			subject: lines{id: []string{"Tanya promo"}, en: []string{"Discount codes?"}},
			ask: lines{
				id: []string{"Ada kode voucher untuk member kak?", "Promo gratis ongkir masih berlaku nggak min?",
					"Kak, kalau beli {product} 3 ada diskon?"},
				en: []string{"Do you have any discount codes at the moment?", "Is free shipping still on?"},
			},
			answer: lines{
				id: []string{"Ada kak, pakai kode SERAMBI10 untuk diskon 10% sampai akhir bulan 😊",
					"Masih kak, gratis ongkir untuk belanja minimal Rp 500.000 ke seluruh Jawa dan Bali 🙏"},
				en: []string{"Hi {first}, you can use SERAMBI10 for 10% off until the end of the month.",
					"It is, {first}: free shipping on orders over Rp 500.000 to Java and Bali."},
			},
			thanks: thanksLines(), close: closeLines(),
			call: "Telepon: tanya promo, diberi kode SERAMBI10.",
		},
		{
			key: tPresale, tag: "",
			subject: lines{id: []string{"Pertanyaan pengiriman"}, en: []string{"Shipping question"}},
			ask: lines{
				id: []string{"Kak, bisa kirim ke Makassar? Ongkirnya berapa ya?", "Halo, {product} bisa COD nggak kak?",
					"Min, bisa pesan {product} untuk hampers kantor 50 paket?"},
				en: []string{"Do you ship to Singapore?", "Hi! Can I order {product} as a gift with a message card?",
					"Do you do corporate orders? We'd need about 40 gift boxes."},
			},
			answer: lines{
				id: []string{"Bisa kak, ke Makassar pakai JNE REG sekitar Rp 45.000, estimasi 3–4 hari 🙏",
					"Bisa kak 😊 Untuk pesanan korporat kami beri harga khusus, boleh minta nomor WhatsApp untuk penawaran?"},
				en: []string{"Yes, {first}, we ship to Singapore with an international courier, about 5–7 days. Shipping is calculated at checkout.",
					"Absolutely, {first}! Add a note at checkout and we'll include a hand-written card."},
			},
			thanks: thanksLines(), close: closeLines(),
			call: "Telepon: calon pelanggan tanya pengiriman dan harga grosir.",
		},
	}
}

func topicByKey(key string) topic {
	for _, t := range topics() {
		if t.key == key {
			return t
		}
	}
	panic("shop: unknown topic " + key) // keys are constants of this file
}

// Phrases gives simulated customers something natural to write, in their language ("id" or
// "en"): every question of every topic, with an example product and order filled in. A
// simulation that knows the customer should prefer World.Say, which uses their own orders.
func Phrases(locale string) []string {
	cat := catalogue()
	var out []string
	for i, t := range topics() {
		fill := strings.NewReplacer("{order}", "#10482", "{product}", cat[(i*7)%len(cat)].Name, "{amount}", "Rp 325.000",
			"{first}", "", "{store}", locBandung)
		for _, l := range t.ask.in(locale) {
			out = append(out, fill.Replace(l))
		}
	}
	return out
}
