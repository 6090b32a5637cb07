package agents

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/serambi/serambi/inbox"
)

// CannedResponse is a saved answer an agent inserts with the `/` shortcut. Its text may carry
// placeholders such as {{customer.name}} that are filled in when it is inserted.
type CannedResponse struct {
	ID        string    `json:"id"`
	Shortcut  string    `json:"shortcut"` // what the agent types after "/", unique
	Title     string    `json:"title"`
	Text      string    `json:"text"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// CannedStore keeps canned responses. It is separate from Store because the stores do not
// implement it yet; the console offers canned responses only when it is given one.
// A taken shortcut is inbox.ErrConflict; an absent id inbox.ErrNotFound.
type CannedStore interface {
	CreateCanned(ctx context.Context, c CannedResponse) error
	UpdateCanned(ctx context.Context, c CannedResponse) error
	DeleteCanned(ctx context.Context, id string) error
	ListCanned(ctx context.Context) ([]CannedResponse, error) // ordered by shortcut
}

var shortcutRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// ValidateCanned checks and tidies a canned response before it is stored.
func ValidateCanned(c CannedResponse) (CannedResponse, error) {
	c.Shortcut = strings.ToLower(strings.TrimSpace(c.Shortcut))
	c.Title = strings.TrimSpace(c.Title)
	c.Text = strings.TrimSpace(c.Text)
	if !shortcutRE.MatchString(c.Shortcut) {
		return c, fmt.Errorf("a shortcut is 1-40 lower-case letters, digits, - or _: %w", inbox.ErrInvalid)
	}
	if c.Title == "" || utf8.RuneCountInString(c.Title) > 120 {
		return c, fmt.Errorf("a title of 1-120 characters is required: %w", inbox.ErrInvalid)
	}
	if c.Text == "" || len(c.Text) > 16<<10 || !utf8.ValidString(c.Text) {
		return c, fmt.Errorf("a text of 1 byte to 16 KiB is required: %w", inbox.ErrInvalid)
	}
	return c, nil
}

var placeholderRE = regexp.MustCompile(`\{\{\s*([a-z]+(?:\.[a-z_]+)*)\s*\}\}`)

// ExpandCanned fills {{customer.name}}-style placeholders from vars. Unknown placeholders are
// left as written, so an agent sees what did not fill in before sending.
func ExpandCanned(text string, vars map[string]string) string {
	return placeholderRE.ReplaceAllStringFunc(text, func(m string) string {
		key := placeholderRE.FindStringSubmatch(m)[1]
		if v, ok := vars[key]; ok {
			return v
		}
		return m
	})
}

// CannedVars are the placeholders a canned response can use.
func CannedVars(c inbox.Customer, agent Agent) map[string]string {
	first := strings.TrimSpace(c.Name)
	if i := strings.IndexByte(first, ' '); i > 0 {
		first = first[:i]
	}
	vars := map[string]string{
		"customer.name": c.Name, "customer.first_name": first,
		"agent.name": agent.Name, "agent.email": agent.Email,
	}
	if id, ok := c.Identity(inbox.KindEmail); ok {
		vars["customer.email"] = id.Value
	}
	if id, ok := c.Identity(inbox.KindPhone); ok {
		vars["customer.phone"] = id.Value
	} else if id, ok := c.Identity(inbox.KindWhatsApp); ok {
		vars["customer.phone"] = id.Value
	}
	return vars
}
