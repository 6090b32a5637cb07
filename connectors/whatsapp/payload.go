package whatsapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrMalformed says a webhook body is not the JSON the Cloud API documents.
var ErrMalformed = errors.New("malformed whatsapp webhook")

// Envelope is a webhook delivery: {"object":"whatsapp_business_account","entry":[{"id","changes":
// [{"field":"messages","value":{...}}]}]}. Fields this code does not use are ignored.
type Envelope struct {
	Object string  `json:"object"`
	Entry  []Entry `json:"entry"`
}

// Entry is one WhatsApp Business Account's part of a delivery.
type Entry struct {
	ID      string   `json:"id"`
	Changes []Change `json:"changes"`
}

// Change is one subscribed field's news; only field "messages" carries messages and statuses.
type Change struct {
	Field string `json:"field"`
	Value Value  `json:"value"`
}

// Value is the "messages" field's payload.
type Value struct {
	MessagingProduct string     `json:"messaging_product"`
	Metadata         Metadata   `json:"metadata"`
	Contacts         []Contact  `json:"contacts"`
	Messages         []Message  `json:"messages"`
	Statuses         []Status   `json:"statuses"`
	Errors           []ErrorRef `json:"errors"`
}

// Metadata names the business number the change is about.
type Metadata struct {
	DisplayPhoneNumber string `json:"display_phone_number"`
	PhoneNumberID      string `json:"phone_number_id"`
}

// Contact is the sender's profile.
type Contact struct {
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
	WaID string `json:"wa_id"`
}

// Message is one inbound message. Type says which of the type-named fields is set.
type Message struct {
	From      string   `json:"from"`
	ID        string   `json:"id"`
	Timestamp unixTime `json:"timestamp"`
	Type      string   `json:"type"`
	Context   *struct {
		From                string `json:"from"`
		ID                  string `json:"id"`
		Forwarded           bool   `json:"forwarded"`
		FrequentlyForwarded bool   `json:"frequently_forwarded"`
	} `json:"context"`
	Text *struct {
		Body string `json:"body"`
	} `json:"text"`
	Image       *Media           `json:"image"`
	Audio       *Media           `json:"audio"`
	Video       *Media           `json:"video"`
	Document    *Media           `json:"document"`
	Sticker     *Media           `json:"sticker"`
	Location    *Location        `json:"location"`
	Contacts    []SharedContact  `json:"contacts"`
	Interactive *Interactive     `json:"interactive"`
	Button      *Button          `json:"button"`
	Reaction    *Reaction        `json:"reaction"`
	System      *System          `json:"system"`
	Referral    *Referral        `json:"referral"`
	Errors      []ErrorRef       `json:"errors"`
	Order       *json.RawMessage `json:"order"`
}

// Media is an image, audio, video, document or sticker: its bytes are fetched by ID.
type Media struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type"`
	SHA256   string `json:"sha256"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
	Voice    bool   `json:"voice"`
	Animated bool   `json:"animated"`
}

// Location is a shared place.
type Location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name"`
	Address   string  `json:"address"`
	URL       string  `json:"url"`
}

// SharedContact is a contact card the customer sent.
type SharedContact struct {
	Name struct {
		FormattedName string `json:"formatted_name"`
		FirstName     string `json:"first_name"`
		LastName      string `json:"last_name"`
	} `json:"name"`
	Phones []struct {
		Phone string `json:"phone"`
		WaID  string `json:"wa_id"`
		Type  string `json:"type"`
	} `json:"phones"`
	Emails []struct {
		Email string `json:"email"`
	} `json:"emails"`
}

// Interactive is the customer's answer to a button or list message (or a flow).
type Interactive struct {
	Type        string `json:"type"`
	ButtonReply *struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	} `json:"button_reply"`
	ListReply *struct {
		ID          string `json:"id"`
		Title       string `json:"title"`
		Description string `json:"description"`
	} `json:"list_reply"`
	NfmReply *struct {
		Name         string `json:"name"`
		Body         string `json:"body"`
		ResponseJSON string `json:"response_json"`
	} `json:"nfm_reply"`
}

// Button is a quick-reply button of a template pressed.
type Button struct {
	Text    string `json:"text"`
	Payload string `json:"payload"`
}

// Reaction is an emoji put on (or, empty, taken off) a message.
type Reaction struct {
	MessageID string `json:"message_id"`
	Emoji     string `json:"emoji"`
}

// System is a notice such as "the customer changed their number".
type System struct {
	Body string `json:"body"`
	Type string `json:"type"`
	WaID string `json:"wa_id"`
}

// Referral says the customer came from a Click-to-WhatsApp ad or post.
type Referral struct {
	SourceURL  string `json:"source_url"`
	SourceType string `json:"source_type"`
	SourceID   string `json:"source_id"`
	Headline   string `json:"headline"`
	Body       string `json:"body"`
}

// Status is a delivery receipt for a message the business sent.
type Status struct {
	ID          string     `json:"id"`
	Status      string     `json:"status"`
	Timestamp   unixTime   `json:"timestamp"`
	RecipientID string     `json:"recipient_id"`
	Errors      []ErrorRef `json:"errors"`
}

// ErrorRef is an error as webhooks report it.
type ErrorRef struct {
	Code      flexInt `json:"code"`
	Title     string  `json:"title"`
	Message   string  `json:"message"`
	Details   string  `json:"details"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
}

// String reads "131047 Re-engagement message: Message failed to send because ...".
func (e ErrorRef) String() string {
	s := strconv.Itoa(int(e.Code))
	if e.Title != "" {
		s += " " + e.Title
	} else if e.Message != "" {
		s += " " + e.Message
	}
	if d := firstNonEmpty(e.ErrorData.Details, e.Details); d != "" {
		s += ": " + d
	}
	return s
}

// DecodeWebhook parses a webhook body. Unknown fields are ignored; a body that is not JSON, or
// whose known fields have the wrong types, is ErrMalformed.
func DecodeWebhook(body []byte) (Envelope, error) {
	var env Envelope
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		return Envelope{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if dec.More() {
		return Envelope{}, fmt.Errorf("%w: data after the JSON object", ErrMalformed)
	}
	if env.Object == "" {
		return Envelope{}, fmt.Errorf("%w: no object", ErrMalformed)
	}
	return env, nil
}

// unixTime reads a Unix time in seconds, sent as a string ("1749416383") as documented, or as a number.
type unixTime struct{ time.Time }

func (t *unixTime) UnmarshalJSON(b []byte) error {
	n, err := flexNumber(b)
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	if n > 0 && n < 1<<40 {
		t.Time = time.Unix(n, 0).UTC()
	}
	return nil
}

// flexInt reads an integer sent as a number or as a string.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	n, err := flexNumber(b)
	*f = flexInt(n)
	return err
}

func flexNumber(b []byte) (int64, error) {
	if string(b) == "null" {
		return 0, nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, err
		}
		if s == "" {
			return 0, nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return 0, fmt.Errorf("%q is not a number", s)
		}
		n = int64(f)
	}
	return n, nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
