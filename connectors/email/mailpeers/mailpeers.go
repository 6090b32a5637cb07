// Package mailpeers is test support: it starts a real dovecot (IMAP with IDLE, LMTP) and OpenSMTPD
// (SMTP relaying every address by LMTP into dovecot) on free loopback ports, for the tests of any
// package that needs mail to really travel. The peers are started by connectors/email/testenv/peers.sh,
// one pair per test, with all their state in a directory of the test's own.
//
// It must not import connectors/email: that package's internal tests import it.
package mailpeers

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

// Password is every user's password: dovecot's passdb is static, and each test uses addresses of
// its own, so each gets Maildirs of its own, created on first login or delivery.
const Password = "test-secret"

// Host is where every peer listens.
const Host = "127.0.0.1"

// Peers are one test's dovecot and OpenSMTPD.
type Peers struct {
	script                                  string
	dir                                     string
	imapPort, imapsPort, lmtpPort, smtpPort int
}

// required is set in CI (SERAMBI_REQUIRE_PEERS=1), where missing peers are a failure, not a skip.
func required() bool { return os.Getenv("SERAMBI_REQUIRE_PEERS") == "1" }

// Start starts the peers for t and stops them when t ends, keeping their state and logs when t
// failed. It skips t in -short mode and where the peers cannot run (binaries missing, not root),
// unless SERAMBI_REQUIRE_PEERS=1, where a machine without them must not pass by skipping.
func Start(t testing.TB) *Peers {
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
		if required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	script, err := scriptPath()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "serambi-mail-peers-")
	if err != nil {
		t.Fatal(err)
	}
	p := &Peers{script: script, dir: dir}
	ports := FreePorts(t, 4)
	p.imapPort, p.imapsPort, p.lmtpPort, p.smtpPort = ports[0], ports[1], ports[2], ports[3]
	t.Cleanup(func() {
		p.run(t, "stop")
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("peer state and logs kept in %s", dir)
		}
	})
	p.run(t, "start")
	return p
}

// scriptPath finds testenv/peers.sh beside this package, whichever package's directory the test
// runs in. Under -trimpath runtime.Caller gives a module path, so it falls back to the module root
// above the working directory (a test runs in its package's directory, inside the module).
func scriptPath() (string, error) {
	const rel = "connectors/email/testenv/peers.sh"
	var tried []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		path := filepath.Join(filepath.Dir(file), "..", "testenv", "peers.sh")
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
		tried = append(tried, path)
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find %s: %w", rel, err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			path := filepath.Join(dir, filepath.FromSlash(rel))
			if _, err := os.Stat(path); err != nil {
				return "", fmt.Errorf("find %s in the module at %s: %w", rel, dir, err)
			}
			return path, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find " + rel + ": not beside the mailpeers source (" + strings.Join(tried, ", ") + ") and no go.mod above the working directory")
		}
		dir = parent
	}
}

func (p *Peers) run(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command(p.script, append(args, p.dir)...)
	cmd.Env = append(os.Environ(), "IMAP_PORT="+strconv.Itoa(p.imapPort), "IMAPS_PORT="+strconv.Itoa(p.imapsPort),
		"LMTP_PORT="+strconv.Itoa(p.lmtpPort), "SMTP_PORT="+strconv.Itoa(p.smtpPort), "PASSWORD="+Password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("peers.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// StopDovecot stops dovecot alone, with every IMAP process it started: an IMAP and LMTP outage
// while OpenSMTPD keeps accepting and queueing mail.
func (p *Peers) StopDovecot(t testing.TB) { t.Helper(); p.run(t, "stop-dovecot") }

// StartDovecot starts dovecot again after StopDovecot, with the same configuration and mail.
func (p *Peers) StartDovecot(t testing.TB) { t.Helper(); p.run(t, "start-dovecot") }

// Flush makes OpenSMTPD retry its queue now rather than at its next scheduled attempt.
func (p *Peers) Flush(t testing.TB) { t.Helper(); p.run(t, "flush") }

// FreePorts returns n loopback ports that were free a moment ago (e.g. one where nothing listens).
func FreePorts(t testing.TB, n int) []int {
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

// IMAPPort serves IMAP in plain and with STARTTLS.
func (p *Peers) IMAPPort() int { return p.imapPort }

// IMAPSPort serves IMAP over implicit TLS.
func (p *Peers) IMAPSPort() int { return p.imapsPort }

// LMTPPort is dovecot's LMTP, where OpenSMTPD delivers.
func (p *Peers) LMTPPort() int { return p.lmtpPort }

// SMTPPort is OpenSMTPD, in plain: a local relay.
func (p *Peers) SMTPPort() int { return p.smtpPort }

// CAFile is dovecot's self-signed certificate (for 127.0.0.1 and localhost), to trust it as a CA.
func (p *Peers) CAFile() string { return filepath.Join(p.dir, "dovecot", "cert.pem") }

// Send submits raw to OpenSMTPD, as a customer's provider would deliver it.
func (p *Peers) Send(t testing.TB, from string, to []string, raw []byte) {
	t.Helper()
	c, err := smtp.Dial(net.JoinHostPort(Host, strconv.Itoa(p.smtpPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail(from, to, bytes.NewReader(raw)); err != nil {
		t.Fatalf("SMTP send: %v", err)
	}
	_ = c.Quit()
}

// IMAP logs in as user over plain IMAP; the caller closes the client.
func (p *Peers) IMAP(t testing.TB, user string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(net.JoinHostPort(Host, strconv.Itoa(p.imapPort)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user, Password).Wait(); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c
}

// Append stores raw in user's folder directly (no SMTP), with the given arrival time.
func (p *Peers) Append(t testing.TB, user, folder string, raw []byte, at time.Time) {
	t.Helper()
	c := p.IMAP(t, user)
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

// Messages returns the sources of every mail in user's folder, read over IMAP as a mail client
// would, without marking them seen. INBOX and Sent exist for every user from the first login.
func (p *Peers) Messages(t testing.TB, user, folder string) [][]byte {
	t.Helper()
	c := p.IMAP(t, user)
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

// WriteMaildir drops raw into user's Maildir as a delivered file named name, the way an MDA does
// (to fill a large mailbox quickly, or to deliver while dovecot is down). Call ChownMail after the
// last one.
func (p *Peers) WriteMaildir(t testing.TB, user, name string, raw []byte, at time.Time) {
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

// ChownMail gives the Maildirs back to vmail after WriteMaildir, which writes them as root.
func (p *Peers) ChownMail(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("chown", "-R", "vmail:vmail", filepath.Join(p.dir, "mail")).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
}

// Doveadm runs doveadm against this run's dovecot and returns its combined output.
func (p *Peers) Doveadm(args ...string) ([]byte, error) {
	return exec.Command("doveadm", append([]string{"-c", filepath.Join(p.dir, "dovecot", "dovecot.conf")}, args...)...).CombinedOutput()
}
