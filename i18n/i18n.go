// Package i18n holds the console's words in English and Bahasa Indonesia, and the formatting that
// depends on the reader's language: relative and absolute times, money.
//
// Messages live in catalog/<lang>.json in go-i18n's format and are embedded in the binary.
package i18n

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed catalog/*.json
var catalogFS embed.FS

// Languages lists the languages the console speaks, the default first.
func Languages() []Language {
	return []Language{{Code: "en", Name: "English"}, {Code: "id", Name: "Bahasa Indonesia"}}
}

// Language is one language an agent can choose.
type Language struct{ Code, Name string }

// Catalog is the loaded set of messages for every language.
type Catalog struct {
	msgs map[string]map[string]entry // language → id → message
	mu   sync.Mutex
	locs map[string]*Localizer
}

// entry is one message's text in one language: the plural forms our two languages use (English
// has one and other; Indonesian only other).
type entry struct{ one, other string }

// New loads the embedded catalogs with go-i18n's parser, which checks their format and plural
// categories. It fails if a file does not parse, so a broken translation stops the server at start
// rather than showing raw ids. Messages are then filled in by a small substitution of {{.Name}}
// placeholders instead of text/template: a list page fills hundreds of them, and text/template
// made that half the page's render time.
func New() (*Catalog, error) {
	b := goi18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	c := &Catalog{msgs: map[string]map[string]entry{}, locs: map[string]*Localizer{}}
	files, err := fs.Glob(catalogFS, "catalog/*.json")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		buf, err := catalogFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		mf, err := b.ParseMessageFileBytes(buf, f)
		if err != nil {
			return nil, fmt.Errorf("message catalog %s: %w", f, err)
		}
		lang := strings.TrimSuffix(path.Base(f), ".json")
		m := map[string]entry{}
		for _, msg := range mf.Messages {
			if msg.Other == "" {
				return nil, fmt.Errorf("message catalog %s: %s has no \"other\" form", f, msg.ID)
			}
			m[msg.ID] = entry{one: msg.One, other: msg.Other}
		}
		c.msgs[lang] = m
	}
	if c.msgs["en"] == nil {
		return nil, errors.New("message catalog en.json is missing")
	}
	return c, nil
}

// MessageIDs returns the ids in one language's catalog, sorted; tests compare the languages.
func (c *Catalog) MessageIDs(lang string) []string {
	return slices.Sorted(maps.Keys(c.msgs[lang]))
}

// Supported returns code if the console speaks it, otherwise the default language.
func Supported(code string) string {
	code = strings.ToLower(strings.TrimSpace(code))
	if i := strings.IndexAny(code, "-_"); i > 0 {
		code = code[:i]
	}
	for _, l := range Languages() {
		if l.Code == code {
			return code
		}
	}
	return Languages()[0].Code
}

// Localizer returns the localizer for a language code ("en", "id", "id-ID").
func (c *Catalog) Localizer(lang string) *Localizer {
	lang = Supported(lang)
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.locs[lang]; ok {
		return l
	}
	l := &Localizer{lang: lang, msgs: c.msgs[lang], fallback: c.msgs["en"], names: namesFor(lang)}
	c.locs[lang] = l
	return l
}

// Localizer translates into one language.
type Localizer struct {
	lang     string
	msgs     map[string]entry
	fallback map[string]entry
	names    langNames
}

func (l *Localizer) entry(id string) (entry, bool) {
	if e, ok := l.msgs[id]; ok {
		return e, true
	}
	e, ok := l.fallback[id]
	return e, ok
}

// Lang is the language code, for <html lang>.
func (l *Localizer) Lang() string { return l.lang }

// T returns the message id in the localizer's language (English when it has no translation). An
// id missing from every catalog comes back as itself, which tests catch, rather than as an empty
// string nobody notices.
func (l *Localizer) T(id string) string {
	e, ok := l.entry(id)
	if !ok {
		return id
	}
	return e.other
}

// F returns the message id with its {{.Name}} placeholders filled from data.
func (l *Localizer) F(id string, data map[string]any) string {
	e, ok := l.entry(id)
	if !ok {
		return id
	}
	return fill(e.other, data, nil)
}

// N returns the plural form of id for count; {{.Count}} in the message is the count.
func (l *Localizer) N(id string, count int, data map[string]any) string {
	e, ok := l.entry(id)
	if !ok {
		return id
	}
	s := e.other
	if count == 1 && e.one != "" {
		s = e.one
	}
	return fill(s, data, &count)
}

// fill replaces {{.Key}} with data's value; a key data lacks stays as written, so a missing
// value shows instead of vanishing.
func fill(s string, data map[string]any, count *int) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		key := strings.TrimPrefix(strings.TrimSpace(s[i+2:i+j]), ".")
		switch v, ok := data[key]; {
		case ok:
			b.WriteString(fmt.Sprint(v))
		case key == "Count" && count != nil:
			b.WriteString(strconv.Itoa(*count))
		default:
			b.WriteString(s[i : i+j+2])
		}
		s = s[i+j+2:]
	}
}
