package mailpeers_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/serambi/serambi/connectors/email/mailpeers"
)

// What the other packages' tests lean on: a user who never got mail has an empty INBOX (not an
// error), mail sent to any address arrives there, appended and Maildir-written mail is read back,
// and dovecot's certificate verifies against CAFile on the IMAPS port.
func TestPeers(t *testing.T) {
	p := mailpeers.Start(t)
	const user = "someone@example.test"

	if got := p.Messages(t, user, "INBOX"); got != nil {
		t.Fatalf("a new user's INBOX holds %d mails, want none", len(got))
	}
	if got := p.Messages(t, user, "Sent"); got != nil {
		t.Fatalf("a new user's Sent holds %d mails, want none", len(got))
	}

	sent := []byte("From: a@example.org\r\nTo: " + user + "\r\nSubject: hello\r\nMessage-ID: <sent@example.org>\r\n\r\nby SMTP\r\n")
	p.Send(t, "a@example.org", []string{user}, sent)
	deadline := time.Now().Add(15 * time.Second)
	for !holds(p.Messages(t, user, "INBOX"), "Message-ID: <sent@example.org>") {
		if time.Now().After(deadline) {
			t.Fatal("the mail sent by SMTP did not reach the INBOX")
		}
		time.Sleep(20 * time.Millisecond)
	}

	appended := []byte("From: b@example.org\r\nSubject: filed\r\nMessage-ID: <appended@example.org>\r\n\r\nby APPEND\r\n")
	p.Append(t, user, "Sent", appended, time.Now().Add(-time.Hour))
	if got := p.Messages(t, user, "Sent"); len(got) != 1 || !bytes.Equal(got[0], appended) {
		t.Errorf("Sent holds %q, want exactly the appended mail", got)
	}

	const other = "maildir@example.test"
	written := []byte("From: c@example.org\r\nSubject: dropped\r\nMessage-ID: <written@example.org>\r\n\r\nby Maildir\r\n")
	p.WriteMaildir(t, other, "1700000000.M1P1.test,S="+strconv.Itoa(len(written)), written, time.Now().Add(-48*time.Hour))
	p.ChownMail(t)
	if out, err := p.Doveadm("index", "-u", other, "INBOX"); err != nil {
		t.Fatalf("doveadm index: %v %s", err, out)
	}
	if got := p.Messages(t, other, "INBOX"); len(got) != 1 || !bytes.Equal(got[0], written) {
		t.Errorf("the Maildir-written INBOX holds %q, want exactly the written mail", got)
	}

	pem, err := os.ReadFile(p.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("CAFile %s holds no certificate", p.CAFile())
	}
	c, err := imapclient.DialTLS(net.JoinHostPort(mailpeers.Host, strconv.Itoa(p.IMAPSPort())),
		&imapclient.Options{TLSConfig: &tls.Config{RootCAs: roots, ServerName: mailpeers.Host}})
	if err != nil {
		t.Fatalf("IMAPS with CAFile: %v", err)
	}
	defer c.Close()
	if err := c.Login(user, mailpeers.Password).Wait(); err != nil {
		t.Errorf("IMAPS login: %v", err)
	}
}

// StopDovecot is an outage of IMAP alone: OpenSMTPD keeps taking mail, which arrives once
// dovecot is back and the queue is flushed.
func TestDovecotOutage(t *testing.T) {
	p := mailpeers.Start(t)
	const user = "outage@example.test"
	p.StopDovecot(t)
	if c, err := imapclient.DialInsecure(net.JoinHostPort(mailpeers.Host, strconv.Itoa(p.IMAPPort())), nil); err == nil {
		c.Close()
		t.Fatal("IMAP still answers after StopDovecot")
	}
	p.Send(t, "a@example.org", []string{user}, []byte("From: a@example.org\r\nSubject: queued\r\nMessage-ID: <queued@example.org>\r\n\r\nwhile down\r\n"))
	p.StartDovecot(t)
	p.Flush(t)
	deadline := time.Now().Add(30 * time.Second)
	for !holds(p.Messages(t, user, "INBOX"), "Message-ID: <queued@example.org>") {
		if time.Now().After(deadline) {
			t.Fatal("the mail queued during the outage did not arrive after StartDovecot and Flush")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func holds(mails [][]byte, header string) bool {
	for _, m := range mails {
		if bytes.Contains(m, []byte(header)) {
			return true
		}
	}
	return false
}
