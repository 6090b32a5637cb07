package email

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/connectors/email/mailpeers"
	"github.com/serambi/serambi/inbox"
)

// benchMail is one mail of the generated mailbox, with the thread it must end up in.
type benchMail struct {
	id, root string
	raw      []byte
}

// benchMailbox makes n mails shaped like a support inbox: customers writing threads of one to
// five mails (replies carry In-Reply-To, most also References), plain and HTML bodies, one in
// eight with a PDF attachment.
func benchMailbox(n int, start time.Time) []benchMail {
	r := rand.New(rand.NewPCG(42, 1))
	pdf := "%PDF-1.4\n" + strings.Repeat("0123456789abcdef", 1200) // ~19 KB
	pdf64 := base64.StdEncoding.EncodeToString([]byte(pdf))
	var lines []string
	for i := 0; i < len(pdf64); i += 76 {
		lines = append(lines, pdf64[i:min(i+76, len(pdf64))])
	}
	pdfPart := strings.Join(lines, "\r\n")
	var out []benchMail
	for t := 0; len(out) < n; t++ {
		cust := fmt.Sprintf("customer%04d@bench.example", t%(n/4+1))
		subject := fmt.Sprintf("Order %d question", 10000+t)
		var ids []string
		for j := 0; j < 1+r.IntN(5) && len(out) < n; j++ {
			id := fmt.Sprintf("t%05d-%d@bench.example", t, j)
			var h strings.Builder
			fmt.Fprintf(&h, "Return-Path: <%s>\r\nReceived: from mx.bench.example by mail.example.test; %s\r\n", cust, start.Format(time.RFC1123Z))
			fmt.Fprintf(&h, "From: Customer %d <%s>\r\nTo: support@example.test\r\nMessage-ID: <%s>\r\nDate: %s\r\n", t, cust, id,
				start.Add(time.Duration(len(out))*time.Second).Format(time.RFC1123Z))
			subj := subject
			if j > 0 {
				subj = "Re: " + subject
				fmt.Fprintf(&h, "In-Reply-To: <%s>\r\n", ids[j-1])
				if r.IntN(4) > 0 {
					fmt.Fprintf(&h, "References: <%s>\r\n", strings.Join(ids, "> <"))
				}
			}
			fmt.Fprintf(&h, "Subject: %s\r\nMIME-Version: 1.0\r\n", subj)
			body := fmt.Sprintf("Hello,\r\n\r\nthis is mail %d of thread %d. %s\r\n\r\nRegards,\r\nCustomer %d\r\n", j, t,
				strings.Repeat("The parcel has not arrived and the tracking page shows no update. ", 1+r.IntN(12)), t)
			switch {
			case r.IntN(8) == 0:
				fmt.Fprintf(&h, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n--b%d\r\n"+
					"Content-Type: application/pdf; name=\"invoice-%d.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice-%d.pdf\"\r\n"+
					"Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--b%d--\r\n", t, t, body, t, t, t, pdfPart, t)
			case r.IntN(2) == 0:
				fmt.Fprintf(&h, "Content-Type: multipart/alternative; boundary=\"a%d\"\r\n\r\n--a%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n"+
					"--a%d\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<div dir=\"ltr\">%s</div>\r\n--a%d--\r\n",
					t, t, body, t, strings.ReplaceAll(body, "\r\n", "<br>"), t)
			default:
				fmt.Fprintf(&h, "Content-Type: text/plain; charset=utf-8\r\n\r\n%s", body)
			}
			out = append(out, benchMail{id: id, root: ids0(ids, id), raw: []byte(h.String())})
			ids = append(ids, id)
		}
	}
	return out
}

func ids0(ids []string, id string) string {
	if len(ids) == 0 {
		return id
	}
	return ids[0]
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkInitialImport measures the first import of a large mailbox from dovecot into the SQLite
// store (Maildir written directly, then indexed by dovecot before the clock starts), and checks
// that every mail landed in its thread. EMAIL_BENCH_MESSAGES sets the size (default 1000):
//
//	EMAIL_BENCH_MESSAGES=10000 go test ./connectors/email -run '^$' -bench BenchmarkInitialImport -benchtime 1x
func BenchmarkInitialImport(b *testing.B) {
	n := envInt("EMAIL_BENCH_MESSAGES", 1000)
	p := mailpeers.Start(b)
	start := time.Now().Add(-48 * time.Hour)
	mails := benchMailbox(n, start)
	// Maildir's new/ is read in directory order, so UIDs do not follow the thread order: replies
	// often come before their parents, as relays deliver them.
	for i, m := range mails {
		p.WriteMaildir(b, supportAddr, fmt.Sprintf("%d.M%dP1.bench,S=%d", start.Unix()+int64(i), i, len(m.raw)), m.raw, start.Add(time.Duration(i)*time.Second))
	}
	p.ChownMail(b)
	if out, err := p.Doveadm("index", "-u", supportAddr, "INBOX"); err != nil {
		b.Fatalf("doveadm index: %v %s", err, out)
	}
	ctx := context.Background()
	b.ResetTimer()
	var elapsed time.Duration
	for range b.N {
		b.StopTimer()
		e := newTestEnv(b)
		mb := peerMailbox(p, supportAddr)
		mb.StoreRaw = StoreRawMode(os.Getenv("EMAIL_BENCH_STORE_RAW")) // "always" to keep every source
		c := New(mb, Deps{Inbox: e.inbox, Store: e.store, State: e.store, Blobs: e.blobs, Log: e.log})
		b.StartTimer()
		t0 := time.Now()
		stop := runConnector(b, c)
		for c.Status().Imported < int64(n) {
			if s := c.Status(); s.LastError != "" && time.Since(t0) > time.Minute {
				b.Fatalf("import stuck: %+v", s)
			}
			time.Sleep(5 * time.Millisecond)
		}
		elapsed += time.Since(t0)
		b.StopTimer()
		stop()
		// Threading exactly right, and nothing twice.
		wrong := 0
		for _, m := range mails {
			got, err := e.store.MessageByExternalID(ctx, inbox.ChannelEmail, m.id)
			if err != nil || got.ThreadKey != m.root {
				wrong++
				if wrong < 5 {
					b.Errorf("%s: thread %q (%v), want %q", m.id, got.ThreadKey, err, m.root)
				}
			}
		}
		if wrong > 0 {
			b.Fatalf("%d of %d mails in the wrong thread", wrong, n)
		}
		if s := c.Status(); s.Imported != int64(n) || s.Skipped != 0 {
			b.Fatalf("status %+v", s)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/import")
}

// BenchmarkIdleLatency measures, one mail at a time, from OpenSMTPD accepting a customer's mail to
// the message being stored in the inbox: SMTP → LMTP → dovecot → IDLE → FETCH → parse → ingest.
//
//	go test ./connectors/email -run '^$' -bench BenchmarkIdleLatency -benchtime 200x
func BenchmarkIdleLatency(b *testing.B) {
	p := mailpeers.Start(b)
	e := newTestEnv(b)
	ctx := context.Background()
	c := New(peerMailbox(p, supportAddr), Deps{Inbox: e.inbox, Store: e.store, State: e.store, Blobs: e.blobs, Log: e.log})
	runConnector(b, c)
	waitFor(b, 15*time.Second, "IDLE", func() bool { s := c.Status(); return s.Connected && s.Idle && !s.LastSync.IsZero() })
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("lat-%d@example.org", i)
		raw := testMail{from: customerAddr, id: id, subject: "Latency " + strconv.Itoa(i)}.bytes()
		p.Send(b, customerAddr, []string{supportAddr}, raw)
		t0 := time.Now()
		for {
			if _, err := e.store.MessageByExternalID(ctx, inbox.ChannelEmail, id); err == nil {
				break
			}
			if time.Since(t0) > 30*time.Second {
				b.Fatalf("mail %d never arrived", i)
			}
			time.Sleep(2 * time.Millisecond)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(f float64) float64 { return float64(lat[min(len(lat)-1, int(f*float64(len(lat))))].Milliseconds()) }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
}
