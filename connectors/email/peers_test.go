package email

import (
	"context"
	"testing"
	"time"

	"github.com/serambi/serambi/connectors/email/mailpeers"
)

// The tests that need mail to really travel run against mailpeers: a real dovecot and OpenSMTPD
// for one test, on free loopback ports. Every user logs in with mailpeers.Password; addresses are
// created on first delivery.

// peerMailbox is the support mailbox on p: IMAP over STARTTLS with the peers' own CA, SMTP in
// plain to the local relay.
func peerMailbox(p *mailpeers.Peers, address string) Mailbox {
	return Mailbox{
		ID: "support", Address: address, DisplayName: "Example Support",
		IMAP: IMAPConfig{Host: mailpeers.Host, Port: p.IMAPPort(), TLS: TLSStartTLS, Password: Secret(mailpeers.Password), CAFile: p.CAFile(),
			PollInterval: time.Hour}, // only IDLE can deliver quickly: a test that passes proves IDLE works
		SMTP:         SMTPConfig{Host: mailpeers.Host, Port: p.SMTPPort(), TLS: TLSNone},
		LookBack:     30 * 24 * time.Hour,
		ReconnectMin: 100 * time.Millisecond, ReconnectMax: time.Second, LeaseTTL: 3 * time.Second,
		StoreRaw: StoreRawAlways,
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runConnector runs c until the test ends.
func runConnector(t testing.TB, c *Connector) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}
