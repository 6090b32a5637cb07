package voice

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/inbox"
)

// maxWebhookBody bounds a CTI or Twilio callback: a few hundred bytes of fields.
const maxWebhookBody = 64 << 10

// Register adds the webhook routes to g, which the web server mounts at /api/v1 without session
// authentication or CSRF checks (the routes authenticate themselves):
//
//	POST /voice/cti/:token        generic CTI events (JSON or form, Zammad's shape); 401 for a wrong token
//	POST /voice/twilio/status     Twilio Voice status callbacks; 403 for a wrong X-Twilio-Signature
//	POST /voice/twilio/recording  Twilio recording (and transcription) status callbacks
//
// A source that is not configured answers 404.
func (c *Connector) Register(g *echo.Group) {
	g.POST("/voice/cti/:token", c.handleCTI)
	g.POST("/voice/twilio/status", c.handleTwilioStatus)
	g.POST("/voice/twilio/recording", c.handleTwilioRecording)
}

// ctiEvent is one generic CTI request. Fields Serambi does not know are ignored: PBX scripts
// written for Zammad send more. RecordingURL and Transcript are Serambi's own optional additions.
type ctiEvent struct {
	Event           string   `json:"event"`
	CallID          string   `json:"callId"`
	From            string   `json:"from"`
	To              string   `json:"to"`
	Direction       string   `json:"direction"`
	User            userList `json:"user"`
	Queue           string   `json:"queue"`
	Cause           string   `json:"cause"`
	AnsweringNumber string   `json:"answeringNumber"`
	RecordingURL    string   `json:"recordingUrl"`
	Transcript      string   `json:"transcript"`
}

// userList is the "user" field: a string or a list of strings in JSON ("user": "Emma Taylor"
// and "user": ["Christopher Miller", "Emma Taylor"] both occur), user[] in forms.
type userList []string

func (u *userList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		if one != "" {
			*u = userList{one}
		}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New(`"user" must be a string or a list of strings`)
	}
	*u = many
	return nil
}

func (c *Connector) handleCTI(e echo.Context) error {
	r, w := e.Request(), e.Response()
	if c.cfg.CTIToken == "" {
		return jsonError(e, http.StatusNotFound, "the generic CTI webhook is not enabled: set SERAMBI_VOICE_CTI_TOKEN")
	}
	if !equalSecret(e.Param("token"), c.cfg.CTIToken.Reveal()) {
		c.log.Warn("CTI event with a wrong token refused", "remote", e.RealIP())
		return jsonError(e, http.StatusUnauthorized, "unknown CTI token")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		return jsonError(e, http.StatusRequestEntityTooLarge, "body too large or unreadable")
	}
	ev, err := parseCTI(r.Header.Get("Content-Type"), body)
	if err != nil {
		return jsonError(e, http.StatusBadRequest, err.Error())
	}
	ups, err := ev.updates()
	if err != nil {
		return jsonError(e, http.StatusBadRequest, err.Error())
	}
	if _, err := c.Process(r.Context(), ups...); errors.Is(err, inbox.ErrInvalid) {
		return jsonError(e, http.StatusBadRequest, err.Error())
	} else if err != nil {
		c.log.Error("could not record a CTI event", "call", ev.CallID, "event", ev.Event, "err", err)
		return jsonError(e, http.StatusInternalServerError, "the event could not be stored; send it again")
	}
	// Zammad answers {} unless it blocks a caller or rewrites a caller id; Serambi does neither.
	return e.JSONBlob(http.StatusOK, []byte("{}"))
}

// parseCTI reads a JSON body, or the form body PBX scripts post (user[] repeated).
func parseCTI(contentType string, body []byte) (ctiEvent, error) {
	var ev ctiEvent
	mt, params, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return ev, fmt.Errorf("the form body is malformed: %v", err)
		}
		return ctiFromForm(v), nil
	case "multipart/form-data":
		mr := multipartForm(body, params["boundary"])
		if mr == nil {
			return ev, errors.New("the multipart form body is malformed")
		}
		return ctiFromForm(mr), nil
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return ev, fmt.Errorf("the body is not a JSON CTI event: %v", err)
	}
	return ev, nil
}

func ctiFromForm(v url.Values) ctiEvent {
	users := append(v["user[]"], v["user"]...)
	return ctiEvent{
		Event: v.Get("event"), CallID: v.Get("callId"), From: v.Get("from"), To: v.Get("to"),
		Direction: v.Get("direction"), User: users, Queue: v.Get("queue"), Cause: v.Get("cause"),
		AnsweringNumber: v.Get("answeringNumber"), RecordingURL: v.Get("recordingUrl"), Transcript: v.Get("transcript"),
	}
}

func multipartForm(body []byte, boundary string) url.Values {
	if boundary == "" {
		return nil
	}
	req, err := http.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	if err != nil {
		return nil
	}
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
	if err := req.ParseMultipartForm(maxWebhookBody); err != nil {
		return nil
	}
	return url.Values(req.MultipartForm.Value)
}

// updates maps a CTI event onto call updates. The causes are Zammad's: normalClearing ends an
// established call, cancel/noAnswer/busy/congestion/notFound end a call nobody answered (an
// incoming one is missed), forwarded hands the call elsewhere (not missed). "voicemail" is
// Serambi's addition for PBXes that report it.
func (ev ctiEvent) updates() ([]Update, error) {
	if ev.CallID == "" || len(ev.CallID) > 250 || !utf8.ValidString(ev.CallID) {
		return nil, errors.New(`"callId" is required (at most 250 characters)`)
	}
	var dir Direction
	switch strings.ToLower(ev.Direction) {
	case "in", "":
		dir = DirectionIn
	case "out":
		dir = DirectionOut
	default:
		return nil, fmt.Errorf(`"direction" must be "in" or "out", not %q`, ev.Direction)
	}
	base := Update{CallID: string(SourceCTI) + ":" + ev.CallID, Source: SourceCTI, Direction: dir, From: ev.From, To: ev.To, Queue: ev.Queue}
	first := func(l userList) string {
		if len(l) > 0 {
			return l[0]
		}
		return ""
	}
	var ups []Update
	switch ev.Event {
	case "newCall":
		u := base
		u.Kind = UpdateRinging
		if dir == DirectionIn {
			u.Ringing = ev.User
		} else {
			u.Agent, u.Extension = first(ev.User), ev.From
		}
		ups = append(ups, u)
	case "answer":
		u := base
		u.Kind = UpdateAnswered
		if dir == DirectionIn {
			u.Agent, u.Extension = first(ev.User), ev.AnsweringNumber
		}
		ups = append(ups, u)
	case "hangup":
		cause := ev.Cause
		if cause == "normalClearing" {
			// Established, whether or not the answer event got through: an answer at the hang-up
			// at the latest (an earlier answer event keeps its time).
			u := base
			u.Kind = UpdateAnswered
			if dir == DirectionIn {
				u.Agent, u.Extension = first(ev.User), ev.AnsweringNumber
			}
			ups = append(ups, u)
		}
		if ev.RecordingURL != "" {
			u := base
			u.Kind, u.RecordingURL, u.Voicemail = UpdateRecording, ev.RecordingURL, cause == "voicemail"
			ups = append(ups, u)
		}
		if ev.Transcript != "" {
			u := base
			u.Kind, u.Transcript = UpdateTranscript, ev.Transcript
			ups = append(ups, u)
		}
		u := base
		u.Kind, u.Cause, u.Voicemail, u.Handled = UpdateHangup, cause, cause == "voicemail", cause == "forwarded"
		if dir == DirectionIn {
			u.Agent, u.Extension = first(ev.User), ev.AnsweringNumber
		}
		ups = append(ups, u)
	default:
		return nil, fmt.Errorf(`"event" must be newCall, answer or hangup, not %q`, ev.Event)
	}
	return ups, nil
}

// equalSecret compares in constant time; hashing first keeps the length from leaking too.
func equalSecret(got, want string) bool {
	if want == "" {
		return false
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

func jsonError(e echo.Context, status int, msg string) error {
	return e.JSON(status, map[string]string{"error": msg})
}
