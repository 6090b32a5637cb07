package agents

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/serambi/serambi/inbox"
)

var (
	// ErrBadCredentials: unknown email or wrong password; which one is never said.
	ErrBadCredentials = errors.New("wrong email or password")
	// ErrRateLimited: too many failed logins from this address or for this account.
	ErrRateLimited = errors.New("too many attempts")
	// ErrNoSession: the session cookie is absent, unknown or expired.
	ErrNoSession = errors.New("not signed in")
)

// RateLimitedError says when logging in may be tried again.
type RateLimitedError struct{ Until time.Time }

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("too many attempts; try again after %s", e.Until.Format(time.RFC3339))
}
func (e *RateLimitedError) Unwrap() error { return ErrRateLimited }

// Config tunes accounts and sessions.
type Config struct {
	SessionTTL time.Duration // idle time after which a session ends
	Argon2id   Argon2idParams
	// LoginFailuresPerIP and LoginFailuresPerAccount bound guessing within LoginWindow.
	LoginFailuresPerIP, LoginFailuresPerAccount int
	LoginWindow                                 time.Duration
}

// DefaultConfig is what production uses.
func DefaultConfig() Config {
	return Config{SessionTTL: 14 * 24 * time.Hour, Argon2id: DefaultArgon2id,
		LoginFailuresPerIP: 20, LoginFailuresPerAccount: 5, LoginWindow: 15 * time.Minute}
}

// Service manages agent accounts, teams and sign-in.
type Service struct {
	store     Store
	cfg       Config
	now       func() time.Time
	log       *slog.Logger
	ipLimit   *Limiter
	acctLimit *Limiter
	// dummyHash is verified against when the email is unknown, so a login takes as long either
	// way and response times do not reveal which emails have accounts.
	dummyHash string
}

// New returns the accounts service.
func New(store Store, cfg Config, now func() time.Time, log *slog.Logger) (*Service, error) {
	dummy, err := HashPassword("not a password", cfg.Argon2id)
	if err != nil {
		return nil, err
	}
	return &Service{store: store, cfg: cfg, now: func() time.Time { return now().UTC() }, log: log,
		ipLimit:   NewLimiter(cfg.LoginFailuresPerIP, cfg.LoginWindow),
		acctLimit: NewLimiter(cfg.LoginFailuresPerAccount, cfg.LoginWindow),
		dummyHash: dummy}, nil
}

// Store returns the underlying store.
func (s *Service) Store() Store { return s.store }

// NewAgent is what an admin (or `serambi admin create`) fills in.
type NewAgent struct {
	Email, Name, Password string
	Role                  Role
	Locale, Timezone      string
	TeamIDs               []string
}

// MinPasswordLen is the shortest password accepted; length beats composition rules.
const MinPasswordLen = 10

// Create adds an agent account.
func (s *Service) Create(ctx context.Context, n NewAgent) (Agent, error) {
	email, err := inbox.NormalizeEmail(n.Email)
	if err != nil {
		return Agent{}, err
	}
	name := strings.TrimSpace(n.Name)
	if name == "" || !utf8.ValidString(name) || len(name) > 200 {
		return Agent{}, fmt.Errorf("a name of 1-200 characters is required: %w", inbox.ErrInvalid)
	}
	if err := checkPassword(n.Password); err != nil {
		return Agent{}, err
	}
	if n.Role != RoleAdmin && n.Role != RoleAgent {
		return Agent{}, fmt.Errorf("role %q must be admin or agent: %w", n.Role, inbox.ErrInvalid)
	}
	hash, err := HashPassword(n.Password, s.cfg.Argon2id)
	if err != nil {
		return Agent{}, err
	}
	now := s.now()
	a := Agent{ID: inbox.NewID(), Email: email, Name: name, PasswordHash: hash, Role: n.Role,
		TeamIDs: append([]string{}, n.TeamIDs...), Locale: orDefault(n.Locale, "en"),
		Timezone: orDefault(n.Timezone, "Asia/Jakarta"), CreatedAt: now, UpdatedAt: now}
	if _, err := time.LoadLocation(a.Timezone); err != nil {
		return Agent{}, fmt.Errorf("timezone %q is not an IANA zone name: %w", a.Timezone, inbox.ErrInvalid)
	}
	if err := s.store.CreateAgent(ctx, a); err != nil {
		return Agent{}, fmt.Errorf("create agent %s: %w", email, err)
	}
	s.log.Info("agent created", "agent", a.ID, "role", a.Role)
	return a, nil
}

func checkPassword(p string) error {
	if utf8.RuneCountInString(p) < MinPasswordLen || len(p) > 1024 {
		return fmt.Errorf("a password needs %d to 1024 characters: %w", MinPasswordLen, inbox.ErrInvalid)
	}
	return nil
}

// SetPassword changes an agent's password and signs them out everywhere.
func (s *Service) SetPassword(ctx context.Context, agentID, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	a, err := s.store.AgentByID(ctx, agentID)
	if err != nil {
		return err
	}
	if a.PasswordHash, err = HashPassword(password, s.cfg.Argon2id); err != nil {
		return err
	}
	a.UpdatedAt = s.now()
	if err := s.store.UpdateAgent(ctx, a); err != nil {
		return err
	}
	return s.store.DeleteAgentSessions(ctx, agentID)
}

// NeedsSetup reports whether no admin exists yet: the console then shows the first-run page.
func (s *Service) NeedsSetup(ctx context.Context) (bool, error) {
	n, err := s.store.CountAgents(ctx, RoleAdmin)
	return n == 0, err
}

// Login checks an email and password and starts a session. It returns the cookie token, which is
// never stored (only its hash is).
func (s *Service) Login(ctx context.Context, email, password, ip, userAgent string) (Agent, Session, string, error) {
	now := s.now()
	email = strings.ToLower(strings.TrimSpace(email))
	if ok, until := s.ipLimit.Allowed("ip:"+ip, now); !ok {
		return Agent{}, Session{}, "", &RateLimitedError{Until: until}
	}
	if ok, until := s.acctLimit.Allowed("acct:"+email, now); !ok {
		return Agent{}, Session{}, "", &RateLimitedError{Until: until}
	}
	a, err := s.store.AgentByEmail(ctx, email)
	hash := a.PasswordHash
	if err != nil {
		if !errors.Is(err, inbox.ErrNotFound) {
			return Agent{}, Session{}, "", err
		}
		hash = s.dummyHash
	}
	ok, verr := VerifyPassword(password, hash)
	if err != nil || verr != nil || !ok || a.Disabled {
		s.ipLimit.Fail("ip:"+ip, now)
		s.acctLimit.Fail("acct:"+email, now)
		s.log.Info("login failed", "ip", ip)
		return Agent{}, Session{}, "", ErrBadCredentials
	}
	s.acctLimit.Reset("acct:" + email)
	token := randomToken()
	sess := Session{ID: HashToken(token), AgentID: a.ID, CSRFToken: randomToken(), UserAgent: truncate(userAgent, 300),
		IP: ip, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return Agent{}, Session{}, "", fmt.Errorf("start session: %w", err)
	}
	s.log.Info("login", "agent", a.ID, "ip", ip)
	return a, sess, token, nil
}

// Authenticate returns the live session and agent for a cookie token, extending the session at
// most once a minute so reads do not all become writes.
func (s *Service) Authenticate(ctx context.Context, token string) (Agent, Session, error) {
	if token == "" {
		return Agent{}, Session{}, ErrNoSession
	}
	sess, err := s.store.SessionByID(ctx, HashToken(token))
	if errors.Is(err, inbox.ErrNotFound) {
		return Agent{}, Session{}, ErrNoSession
	}
	if err != nil {
		return Agent{}, Session{}, err
	}
	now := s.now()
	if !now.Before(sess.ExpiresAt) {
		_ = s.store.DeleteSession(ctx, sess.ID)
		return Agent{}, Session{}, ErrNoSession
	}
	a, err := s.store.AgentByID(ctx, sess.AgentID)
	if errors.Is(err, inbox.ErrNotFound) || (err == nil && a.Disabled) {
		return Agent{}, Session{}, ErrNoSession
	}
	if err != nil {
		return Agent{}, Session{}, err
	}
	if now.Sub(sess.LastSeenAt) > time.Minute {
		sess.LastSeenAt, sess.ExpiresAt = now, now.Add(s.cfg.SessionTTL)
		if err := s.store.TouchSession(ctx, sess.ID, sess.LastSeenAt, sess.ExpiresAt); err != nil {
			s.log.Warn("could not extend session", "agent", a.ID, "err", err)
		}
	}
	return a, sess, nil
}

// Logout ends the session of a cookie token.
func (s *Service) Logout(ctx context.Context, token string) error {
	return s.store.DeleteSession(ctx, HashToken(token))
}

// HashToken is how session tokens are stored.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the platform is broken; nothing is safe
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
