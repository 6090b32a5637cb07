package widget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/connectors"
	"github.com/serambi/serambi/inbox"
)

// Where a widget inbox's settings came from. Settings seeded from the environment follow the
// environment on every start until someone saves them in the console; from then on the console's
// version stays.
const (
	SourceEnv     = "env"
	SourceConsole = "console"
)

// Settings configure one widget inbox: one website (or a group of sites) embedding the widget.
// The console's settings page edits them; Public is the part every visitor's browser receives.
type Settings struct {
	// ID names the widget inbox in the embed snippet (data-serambi-inbox) and in messages' meta.
	ID string `json:"id"`
	// Name is shown in the chat header, e.g. the shop's name.
	Name string `json:"name"`
	// Color is the brand colour of the launcher, header and the visitor's bubbles (#RRGGBB).
	Color string `json:"color"`
	// Position is the corner of the launcher: right or left.
	Position string `json:"position"`
	// Language is the widget's language: auto (the visitor's browser), en or id.
	Language string `json:"language"`
	// GreetingEN and GreetingID open the chat; empty means the built-in greeting.
	GreetingEN string `json:"greetingEn"`
	GreetingID string `json:"greetingId"`
	// AllowedOrigins are the sites that may embed this widget ("https://shop.example"). Empty
	// allows only the Serambi server's own origin (the demo page); "*" allows any site, which
	// lets anyone's page talk to your inbox and is meant for trying things out.
	AllowedOrigins []string `json:"allowedOrigins"`
	// JWTSecret verifies signed visitor identities (HS256). Empty: every visitor is anonymous.
	JWTSecret Secret `json:"jwtSecret"`
	// PreChat is the optional form shown before the first message.
	PreChat PreChat `json:"preChat"`
	// OfflineEmail asks for an email address when no agent is online.
	OfflineEmail bool `json:"offlineEmail"`
	// Uploads lets visitors send files and images.
	Uploads bool `json:"uploads"`
	// Source says whether the environment or the console last wrote these settings.
	Source    string    `json:"source"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// PreChat is the form shown before a visitor's first message.
type PreChat struct {
	Enabled      bool    `json:"enabled"`
	AskName      bool    `json:"askName"`
	AskEmail     bool    `json:"askEmail"`
	RequireEmail bool    `json:"requireEmail"`
	Fields       []Field `json:"fields"`
}

// Field is a custom pre-chat question; the answer lands in the first message's meta as
// "widget.field.<key>".
type Field struct {
	Key      string `json:"key"`
	LabelEN  string `json:"labelEn"`
	LabelID  string `json:"labelId"`
	Required bool   `json:"required"`
}

// Defaults for a widget inbox.
const (
	DefaultName     = "Support"
	DefaultColor    = "#0f766e"
	DefaultPosition = "right"
	DefaultLanguage = "auto"
	maxFields       = 10
	maxGreeting     = 500
	minJWTSecret    = 32
)

var (
	idPattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)
	colorPattern = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	keyPattern   = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)
)

// WithDefaults fills what is unset.
func (s Settings) WithDefaults() Settings {
	if s.ID == "" {
		s.ID = DefaultInboxID
	}
	if s.Name == "" {
		s.Name = DefaultName
	}
	if s.Color == "" {
		s.Color = DefaultColor
	}
	s.Color = strings.ToLower(s.Color)
	if s.Position == "" {
		s.Position = DefaultPosition
	}
	if s.Language == "" {
		s.Language = DefaultLanguage
	}
	if s.AllowedOrigins == nil {
		s.AllowedOrigins = []string{}
	}
	if s.PreChat.Fields == nil {
		s.PreChat.Fields = []Field{}
	}
	return s
}

// Validate says what is wrong, field by field, so the console can show it beside the input.
func (s Settings) Validate() error {
	var errs []error
	if !idPattern.MatchString(s.ID) {
		errs = append(errs, fmt.Errorf("id %q must be 1-40 characters of a-z, 0-9, _ and -, starting with a letter or digit", s.ID))
	}
	if s.Name == "" || utf8.RuneCountInString(s.Name) > 60 {
		errs = append(errs, errors.New("name must be 1-60 characters"))
	}
	if !colorPattern.MatchString(s.Color) {
		errs = append(errs, fmt.Errorf("color %q must be #RRGGBB", s.Color))
	}
	if s.Position != "right" && s.Position != "left" {
		errs = append(errs, fmt.Errorf("position %q must be right or left", s.Position))
	}
	if s.Language != "auto" && s.Language != "en" && s.Language != "id" {
		errs = append(errs, fmt.Errorf("language %q must be auto, en or id", s.Language))
	}
	for _, g := range []string{s.GreetingEN, s.GreetingID} {
		if utf8.RuneCountInString(g) > maxGreeting {
			errs = append(errs, fmt.Errorf("a greeting must be at most %d characters", maxGreeting))
		}
	}
	for _, o := range s.AllowedOrigins {
		if _, err := normalizeOrigin(o); err != nil {
			errs = append(errs, err)
		}
	}
	if n := len(s.JWTSecret.Reveal()); n > 0 && n < minJWTSecret {
		errs = append(errs, fmt.Errorf("the JWT secret must be at least %d bytes (it is %d); generate one with `openssl rand -base64 48`", minJWTSecret, n))
	}
	if len(s.PreChat.Fields) > maxFields {
		errs = append(errs, fmt.Errorf("at most %d pre-chat fields", maxFields))
	}
	seen := map[string]bool{}
	for _, f := range s.PreChat.Fields {
		if !keyPattern.MatchString(f.Key) || seen[f.Key] {
			errs = append(errs, fmt.Errorf("pre-chat field key %q must be unique, 1-32 characters of a-z, 0-9 and _", f.Key))
		}
		seen[f.Key] = true
		if f.LabelEN == "" || utf8.RuneCountInString(f.LabelEN) > 60 || utf8.RuneCountInString(f.LabelID) > 60 {
			errs = append(errs, fmt.Errorf("pre-chat field %q needs an English label of at most 60 characters (Indonesian optional)", f.Key))
		}
	}
	if s.Source != SourceEnv && s.Source != SourceConsole {
		errs = append(errs, fmt.Errorf("source %q must be %s or %s", s.Source, SourceEnv, SourceConsole))
	}
	return errors.Join(errs...)
}

// normalizeOrigin returns scheme://host[:port] in lower case, or "*".
func normalizeOrigin(o string) (string, error) {
	o = strings.TrimSpace(o)
	if o == "*" {
		return o, nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("allowed origin %q must be scheme://host[:port] such as https://shop.example, or *", o)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// originAllowed reports whether a page at origin may use this widget inbox. host is the Host the
// request reached Serambi by: with no origins configured only Serambi's own pages may.
func (s Settings) originAllowed(origin, host string) bool {
	o, err := normalizeOrigin(origin)
	if err != nil || o == "*" {
		return slices.Contains(s.AllowedOrigins, "*") && origin != ""
	}
	if len(s.AllowedOrigins) == 0 {
		u, _ := url.Parse(o)
		return u != nil && strings.EqualFold(u.Host, host)
	}
	for _, a := range s.AllowedOrigins {
		if a == "*" {
			return true
		}
		if n, err := normalizeOrigin(a); err == nil && n == o {
			return true
		}
	}
	return false
}

// publicSettings is what a visitor's browser receives: no secret, no origin list.
type publicSettings struct {
	ID         string       `json:"id"`
	Name       string       `json:"name"`
	Color      string       `json:"color"`
	Position   string       `json:"position"`
	Language   string       `json:"language"`
	GreetingEN string       `json:"greetingEn,omitempty"`
	GreetingID string       `json:"greetingId,omitempty"`
	PreChat    *PreChat     `json:"preChat,omitempty"`
	Offline    bool         `json:"offlineEmail"`
	Uploads    bool         `json:"uploads"`
	Limits     publicLimits `json:"limits"`
}

type publicLimits struct {
	MaxChars       int   `json:"maxChars"`
	MaxUploadBytes int64 `json:"maxUploadBytes"`
}

func (s Settings) public(c Config) publicSettings {
	p := publicSettings{ID: s.ID, Name: s.Name, Color: s.Color, Position: s.Position, Language: s.Language,
		GreetingEN: s.GreetingEN, GreetingID: s.GreetingID, Offline: s.OfflineEmail, Uploads: s.Uploads,
		Limits: publicLimits{MaxChars: c.MaxMessageChars, MaxUploadBytes: c.MaxUploadBytes}}
	if s.PreChat.Enabled {
		pc := s.PreChat
		p.PreChat = &pc
	}
	return p
}

// storedSettings is the record kept in the state store. It differs from Settings only in keeping
// the JWT secret in clear: Settings' own JSON redacts it.
type storedSettings struct {
	Settings
	JWTSecret string `json:"jwtSecret"`
}

const (
	settingsPrefix = "widget/inbox/"
	settingsIndex  = "widget/inboxes"
)

// SettingsStore keeps widget inboxes' settings in the connector state store, as JSON under
// "widget/inbox/<id>", with the list of ids under "widget/inboxes". The console's settings page
// uses it; the connector reads through a short cache so that a connection costs no store read. A
// save or delete clears that cache here and, over the bus, on the other instances.
type SettingsStore struct {
	state connectors.StateStore
	now   func() time.Time
	// mu serialises index updates of this process; instances racing on the index can at worst
	// drop an id from the list (the settings themselves stay), which the next Put repairs.
	mu    sync.Mutex
	cache sync.Map // id → cachedSettings
	ttl   time.Duration
	// events, when set (the connector sets it), tells the other instances that an inbox was saved
	// or deleted, so they drop their cached copy at once instead of when it expires.
	events bus.Publisher
}

// TopicSettingsChanged is published when a widget inbox is saved or deleted; OtherID is its id.
const TopicSettingsChanged bus.Topic = "widget.settings_changed"

// forget drops the cached settings of inbox id.
func (st *SettingsStore) forget(id string) { st.cache.Delete(id) }

// changed forgets inbox id here and, through the bus, on every other instance.
func (st *SettingsStore) changed(ctx context.Context, id string) {
	st.forget(id)
	if st.events != nil {
		st.events.Publish(ctx, bus.Event{Topic: TopicSettingsChanged, OtherID: id})
	}
}

type cachedSettings struct {
	s   Settings
	err error
	at  time.Time
}

// NewSettingsStore returns a store of widget inbox settings on state.
func NewSettingsStore(state connectors.StateStore, now func() time.Time) *SettingsStore {
	if now == nil {
		now = time.Now
	}
	return &SettingsStore{state: state, now: now, ttl: 5 * time.Second}
}

// Get returns the settings of widget inbox id; inbox.ErrNotFound when there is none.
func (st *SettingsStore) Get(ctx context.Context, id string) (Settings, error) {
	raw, err := st.state.GetState(ctx, settingsPrefix+id)
	if err != nil {
		return Settings{}, fmt.Errorf("widget inbox %q: %w", id, err)
	}
	if t := strings.TrimSpace(string(raw)); t == "" || t == "null" {
		return Settings{}, fmt.Errorf("widget inbox %q (deleted): %w", id, inbox.ErrNotFound)
	}
	var rec storedSettings
	if err := json.Unmarshal(raw, &rec); err != nil {
		return Settings{}, fmt.Errorf("widget inbox %q: stored settings are not valid JSON: %w", id, err)
	}
	s := rec.Settings
	s.JWTSecret = Secret(rec.JWTSecret)
	return s.WithDefaults(), nil
}

// cached is Get through the cache; a missing inbox is cached too, so that a flood of sockets
// naming an unknown inbox costs no reads.
func (st *SettingsStore) cached(ctx context.Context, id string) (Settings, error) {
	now := st.now()
	if v, ok := st.cache.Load(id); ok {
		c := v.(cachedSettings)
		if now.Sub(c.at) < st.ttl {
			return c.s, c.err
		}
	}
	s, err := st.Get(ctx, id)
	if err != nil && !errors.Is(err, inbox.ErrNotFound) {
		return Settings{}, err // a store failure is not remembered
	}
	st.cache.Store(id, cachedSettings{s: s, err: err, at: now})
	return s, err
}

// Put validates and stores s, and adds its id to the list.
func (st *SettingsStore) Put(ctx context.Context, s Settings) error { return st.put(ctx, s, true) }

// put is Put; announce says whether the other instances are told (Seed does not tell them: each
// seeds the same environment's inbox when it starts).
func (st *SettingsStore) put(ctx context.Context, s Settings, announce bool) error {
	s = s.WithDefaults()
	if err := s.Validate(); err != nil {
		return fmt.Errorf("widget inbox %q: %w: %w", s.ID, inbox.ErrInvalid, err)
	}
	s.UpdatedAt = st.now().UTC()
	rec := storedSettings{Settings: s, JWTSecret: s.JWTSecret.Reveal()}
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := st.state.PutState(ctx, settingsPrefix+s.ID, raw); err != nil {
		return fmt.Errorf("store widget inbox %q: %w", s.ID, err)
	}
	if announce {
		st.changed(ctx, s.ID)
	} else {
		st.forget(s.ID)
	}
	ids, err := st.ids(ctx)
	if err != nil {
		return err
	}
	if !slices.Contains(ids, s.ID) {
		return st.putIDs(ctx, append(ids, s.ID))
	}
	return nil
}

// Delete removes a widget inbox. Its conversations stay; its snippet stops connecting.
func (st *SettingsStore) Delete(ctx context.Context, id string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	// The state store has no delete: an empty record marks the inbox as gone.
	if err := st.state.PutState(ctx, settingsPrefix+id, []byte("null")); err != nil {
		return fmt.Errorf("delete widget inbox %q: %w", id, err)
	}
	st.changed(ctx, id)
	ids, err := st.ids(ctx)
	if err != nil {
		return err
	}
	return st.putIDs(ctx, slices.DeleteFunc(ids, func(x string) bool { return x == id }))
}

// List returns every widget inbox, in the order they were created.
func (st *SettingsStore) List(ctx context.Context) ([]Settings, error) {
	ids, err := st.ids(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Settings, 0, len(ids))
	for _, id := range ids {
		s, err := st.Get(ctx, id)
		if errors.Is(err, inbox.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (st *SettingsStore) ids(ctx context.Context) ([]string, error) {
	raw, err := st.state.GetState(ctx, settingsIndex)
	if errors.Is(err, inbox.ErrNotFound) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list widget inboxes: %w", err)
	}
	var ids []string
	if err := json.Unmarshal(raw, &ids); err != nil {
		return nil, fmt.Errorf("list widget inboxes: %w", err)
	}
	return ids, nil
}

func (st *SettingsStore) putIDs(ctx context.Context, ids []string) error {
	raw, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	if err := st.state.PutState(ctx, settingsIndex, raw); err != nil {
		return fmt.Errorf("store the list of widget inboxes: %w", err)
	}
	return nil
}

// Seed stores the environment's widget inbox unless the console has taken it over.
func (st *SettingsStore) Seed(ctx context.Context, def Settings) error {
	cur, err := st.Get(ctx, def.ID)
	switch {
	case errors.Is(err, inbox.ErrNotFound):
	case err != nil:
		return err
	case cur.Source == SourceConsole:
		return nil
	}
	def.Source = SourceEnv
	return st.put(ctx, def, false)
}
