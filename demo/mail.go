package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-smtp"
)

// MailServer is the demo's mail provider on loopback: an IMAP server holding the support mailbox,
// which Serambi's email connector reads (IDLE) as it reads any provider's, and an SMTP receiver
// that takes Serambi's replies. Simulated customers write by APPENDing to the mailbox.
//
// The IMAP server keeps messages in memory, but every message is also written to dir and put
// back, in the same order, when the demo starts again: the mailbox then has the UIDVALIDITY and
// UIDs that Serambi stored for it, so nothing is imported twice or skipped.
type MailServer struct {
	Address  string // the support address, also the IMAP login
	Password string
	dir      string
	log      *slog.Logger

	imapLn, smtpLn net.Listener
	imap           *imapserver.Server
	smtp           *smtp.Server

	mu       sync.Mutex
	stored   int
	received []ReceivedMail
	notify   func(ReceivedMail)
}

// ReceivedMail is one mail Serambi sent through the demo's SMTP receiver.
type ReceivedMail struct {
	From      string
	To        []string
	Subject   string
	MessageID string
	Raw       []byte
	At        time.Time
}

// StartMail listens on two free loopback ports and serves until Close. dir keeps the mailbox.
func StartMail(address, password, dir string, log *slog.Logger) (*MailServer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("demo mail dir: %w", err)
	}
	m := &MailServer{Address: address, Password: password, dir: dir, log: log}
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(address, password)
	if err := user.Create("INBOX", nil); err != nil {
		return nil, err
	}
	if err := m.replay(user); err != nil {
		return nil, err
	}
	mem.AddUser(user)
	m.imap = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps: imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		// Plain text on loopback only: the listener below binds 127.0.0.1.
		InsecureAuth: true,
		Logger:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	})
	var err error
	if m.imapLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("demo IMAP listener: %w", err)
	}
	if m.smtpLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		m.imapLn.Close()
		return nil, fmt.Errorf("demo SMTP listener: %w", err)
	}
	m.smtp = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{m: m}, nil }))
	m.smtp.Domain = "localhost"
	m.smtp.MaxMessageBytes = 30 << 20
	m.smtp.ReadTimeout, m.smtp.WriteTimeout = time.Minute, time.Minute
	m.smtp.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	go func() { _ = m.imap.Serve(m.imapLn) }()
	go func() { _ = m.smtp.Serve(m.smtpLn) }()
	return m, nil
}

// IMAPAddr and SMTPAddr are host:port on 127.0.0.1.
func (m *MailServer) IMAPAddr() string { return m.imapLn.Addr().String() }
func (m *MailServer) SMTPAddr() string { return m.smtpLn.Addr().String() }

// Close stops both servers.
func (m *MailServer) Close() error {
	return errors.Join(m.imap.Close(), m.smtp.Close())
}

// OnReceive calls fn (on the SMTP session's goroutine) for every mail Serambi sends from now on.
func (m *MailServer) OnReceive(fn func(ReceivedMail)) {
	m.mu.Lock()
	m.notify = fn
	m.mu.Unlock()
}

// Received lists the mails Serambi sent, oldest first.
func (m *MailServer) Received() []ReceivedMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.received)
}

// replay puts the mailbox of earlier runs back, in order, straight into the in-memory store.
func (m *MailServer) replay(user *imapmemserver.User) error {
	names, err := filepath.Glob(filepath.Join(m.dir, "*.eml"))
	if err != nil {
		return err
	}
	slices.Sort(names) // zero-padded sequence numbers: name order is arrival order
	for _, n := range names {
		raw, err := os.ReadFile(n)
		if err != nil {
			return fmt.Errorf("demo mailbox: %w", err)
		}
		at := time.Now()
		if fi, err := os.Stat(n); err == nil {
			at = fi.ModTime()
		}
		// *bytes.Reader is an imap.LiteralReader: it knows its Size.
		if _, err := user.Append("INBOX", bytes.NewReader(raw), &imap.AppendOptions{Time: at}); err != nil {
			return fmt.Errorf("demo mailbox: replay %s: %w", filepath.Base(n), err)
		}
	}
	m.stored = len(names)
	return nil
}

// Deliver puts a mail into the support mailbox the way a mail provider does: over IMAP (APPEND),
// so that the IDLE of Serambi's connector hears of it. The mail is kept in dir first.
func (m *MailServer) Deliver(ctx context.Context, raw []byte) error {
	m.mu.Lock()
	m.stored++
	name := filepath.Join(m.dir, fmt.Sprintf("%09d.eml", m.stored))
	m.mu.Unlock()
	if err := os.WriteFile(name, raw, 0o600); err != nil {
		return fmt.Errorf("keep demo mail: %w", err)
	}
	c, err := imapclient.DialInsecure(m.IMAPAddr(), nil)
	if err != nil {
		return fmt.Errorf("demo IMAP: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	if err := c.Login(m.Address, m.Password).Wait(); err != nil {
		return fmt.Errorf("demo IMAP login: %w", err)
	}
	cmd := c.Append("INBOX", int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		return fmt.Errorf("demo IMAP append: %w", err)
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("demo IMAP append: %w", err)
	}
	if _, err := cmd.Wait(); err != nil {
		return fmt.Errorf("demo IMAP append: %w", err)
	}
	return c.Logout().Wait()
}

type smtpSession struct {
	m    *MailServer
	from string
	to   []string
}

func (s *smtpSession) Reset()        { s.from, s.to = "", nil }
func (s *smtpSession) Logout() error { return nil }
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	rm := ReceivedMail{From: s.from, To: slices.Clone(s.to), Raw: raw, At: time.Now()}
	if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		rm.Subject = decodeHeader(msg.Header.Get("Subject"))
		rm.MessageID = strings.TrimSpace(msg.Header.Get("Message-Id"))
	}
	s.m.mu.Lock()
	s.m.received = append(s.m.received, rm)
	notify := s.m.notify
	s.m.mu.Unlock()
	s.m.log.Debug("demo mail server received a reply", "to", rm.To, "subject", rm.Subject)
	if notify != nil {
		notify(rm)
	}
	return nil
}

func decodeHeader(s string) string {
	if d, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
		return d
	}
	return s
}
