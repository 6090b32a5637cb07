package email

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

// peers are a real dovecot (IMAP with IDLE, LMTP) and OpenSMTPD (SMTP → LMTP → dovecot) started
// by testenv/peers.sh for one test, on free loopback ports, with all state in the test's temp
// directory. Every user logs in with peerPassword; addresses are created on first delivery.
type peers struct {
	dir                                     string
	imapPort, imapsPort, lmtpPort, smtpPort int
}

const peerPassword = "test-secret"

// requirePeers is set in CI (SERAMBI_REQUIRE_PEERS=1), where missing peers are a failure, not a skip.
func requirePeers() bool { return os.Getenv("SERAMBI_REQUIRE_PEERS") == "1" }

func startPeers(t testing.TB) *peers {
	t.Helper()
	if testing.Short() {
		t.Skip("real mail peers are not started in -short mode")
	}
	missing := []string{}
	for _, bin := range []string{"dovecot", "smtpd", "unshare", "openssl"} {
		if _, err := exec.LookPath(bin); err != nil {
			if _, err := os.Stat("/usr/sbin/" + bin); err != nil {
				missing = append(missing, bin)
			}
		}
	}
	if len(missing) > 0 || os.Geteuid() != 0 {
		msg := fmt.Sprintf("real mail peers unavailable (missing %v, root=%v): run `connectors/email/testenv/peers.sh install` as root", missing, os.Geteuid() == 0)
		if requirePeers() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir, err := os.MkdirTemp("", "serambi-email-peers-")
	if err != nil {
		t.Fatal(err)
	}
	p := &peers{dir: dir}
	ports := freePorts(t, 4)
	p.imapPort, p.imapsPort, p.lmtpPort, p.smtpPort = ports[0], ports[1], ports[2], ports[3]
	t.Cleanup(func() {
		p.script(t, "stop")
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("peer state and logs kept in %s", dir)
		}
	})
	p.script(t, "start")
	return p
}

func (p *peers) script(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command("testenv/peers.sh", append(args, p.dir)...)
	cmd.Env = append(os.Environ(), "IMAP_PORT="+strconv.Itoa(p.imapPort), "IMAPS_PORT="+strconv.Itoa(p.imapsPort),
		"LMTP_PORT="+strconv.Itoa(p.lmtpPort), "SMTP_PORT="+strconv.Itoa(p.smtpPort), "PASSWORD="+peerPassword)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("peers.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func (p *peers) caFile() string { return filepath.Join(p.dir, "dovecot", "cert.pem") }

// mailbox is the support mailbox on these peers: IMAP over STARTTLS with the peers' own CA, SMTP
// in plain to the local relay.
func (p *peers) mailbox(address string) Mailbox {
	return Mailbox{
		ID: "support", Address: address, DisplayName: "Example Support",
		IMAP: IMAPConfig{Host: "127.0.0.1", Port: p.imapPort, TLS: TLSStartTLS, Password: Secret(peerPassword), CAFile: p.caFile(),
			PollInterval: time.Hour}, // only IDLE can deliver quickly: a test that passes proves IDLE works
		SMTP:         SMTPConfig{Host: "127.0.0.1", Port: p.smtpPort, TLS: TLSNone},
		LookBack:     30 * 24 * time.Hour,
		ReconnectMin: 100 * time.Millisecond, ReconnectMax: time.Second, LeaseTTL: 3 * time.Second,
		StoreRaw: StoreRawAlways,
	}
}

// send submits raw to OpenSMTPD, as a customer's provider would deliver it.
func (p *peers) send(t testing.TB, from string, to []string, raw []byte) {
	t.Helper()
	c, err := smtp.Dial(net.JoinHostPort("127.0.0.1", strconv.Itoa(p.smtpPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail(from, to, bytes.NewReader(raw)); err != nil {
		t.Fatalf("SMTP send: %v", err)
	}
	_ = c.Quit()
}

// imap logs in as user.
func (p *peers) imap(t testing.TB, user string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(net.JoinHostPort("127.0.0.1", strconv.Itoa(p.imapPort)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user, peerPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// append stores raw in user's folder directly (no SMTP), with the given arrival time.
func (p *peers) append(t testing.TB, user, folder string, raw []byte, at time.Time) {
	t.Helper()
	c := p.imap(t, user)
	defer c.Close()
	cmd := c.Append(folder, int64(len(raw)), &imap.AppendOptions{Time: at})
	if _, err := cmd.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

// messages returns the sources of every mail in user's folder.
func (p *peers) messages(t testing.TB, user, folder string) [][]byte {
	t.Helper()
	c := p.imap(t, user)
	defer c.Close()
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	var set imap.SeqSet
	set.AddRange(1, sel.NumMessages)
	bufs, err := c.Fetch(set, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, b := range bufs {
		for _, s := range b.BodySection {
			out = append(out, s.Bytes)
		}
	}
	return out
}

// writeMaildir drops raw into user's Maildir as a delivered file, the way an MDA does (used to
// fill a large mailbox quickly, and to deliver while dovecot is down).
func (p *peers) writeMaildir(t testing.TB, user string, name string, raw []byte, at time.Time) {
	t.Helper()
	dir := filepath.Join(p.dir, "mail", user, "Maildir")
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "new", name)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

// chownMail gives the Maildirs back to vmail after writeMaildir.
func (p *peers) chownMail(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("chown", "-R", "vmail:vmail", filepath.Join(p.dir, "mail")).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
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

// runDoveadm runs doveadm against the test run's dovecot.
func runDoveadm(p *peers, args ...string) ([]byte, error) {
	return exec.Command("doveadm", append([]string{"-c", filepath.Join(p.dir, "dovecot", "dovecot.conf")}, args...)...).CombinedOutput()
}
