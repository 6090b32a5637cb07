package voice

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/inbox"
)

// TwilioSignatureHeader carries base64(HMAC-SHA1(auth token, URL + sorted POST parameters)).
const TwilioSignatureHeader = "X-Twilio-Signature"

// TwilioSignature computes the signature Twilio sends with a request to fullURL (scheme, host,
// path and query exactly as configured at Twilio) whose form body holds params: the URL, then
// every POST parameter's name and value with no separators, names in sorted order (a repeated
// name contributes each of its values, sorted), HMAC-SHA1 keyed with the auth token, base64.
func TwilioSignature(authToken, fullURL string, params url.Values) string {
	var b strings.Builder
	b.WriteString(fullURL)
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		vs := slices.Clone(params[k])
		slices.Sort(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ValidTwilioSignature checks signature in constant time against fullURL and, because Twilio
// signs https URLs sometimes with and sometimes without the default port, against the other
// spelling of the URL too.
func ValidTwilioSignature(authToken, fullURL string, params url.Values, signature string) bool {
	if authToken == "" || signature == "" {
		return false
	}
	ok := false
	for _, u := range urlVariants(fullURL) {
		want := TwilioSignature(authToken, u, params)
		// Compare all variants: the time taken does not depend on which one matched.
		if subtle.ConstantTimeCompare([]byte(want), []byte(signature)) == 1 {
			ok = true
		}
	}
	return ok
}

func urlVariants(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return []string{raw}
	}
	def := map[string]string{"https": "443", "http": "80"}[u.Scheme]
	other := *u
	switch u.Port() {
	case "":
		if def == "" {
			return []string{raw}
		}
		other.Host = u.Host + ":" + def
	case def:
		other.Host = u.Hostname()
	default:
		return []string{raw}
	}
	return []string{raw, other.String()}
}

var twilioSidRE = regexp.MustCompile(`^[A-Z]{2}[0-9a-fA-F]{32}$`)

// twilioForm reads and verifies a Twilio callback. It answers the request itself and returns
// false when the callback is not to be processed.
func (c *Connector) twilioForm(e echo.Context) (url.Values, bool, error) {
	r, w := e.Request(), e.Response()
	if c.cfg.TwilioAuthToken == "" {
		return nil, false, jsonError(e, http.StatusNotFound, "Twilio callbacks are not enabled: set SERAMBI_VOICE_TWILIO_AUTH_TOKEN")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		return nil, false, jsonError(e, http.StatusRequestEntityTooLarge, "body too large or unreadable")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, false, jsonError(e, http.StatusBadRequest, "the body is not a form")
	}
	// Twilio signs the URL it was given; behind a proxy that is the public URL, not the Host
	// this request arrived with.
	fullURL := c.cfg.PublicURL + r.URL.RequestURI()
	if !ValidTwilioSignature(c.cfg.TwilioAuthToken.Reveal(), fullURL, form, r.Header.Get(TwilioSignatureHeader)) {
		c.log.Warn("Twilio callback with a wrong signature refused", "url", fullURL, "remote", e.RealIP())
		return nil, false, jsonError(e, http.StatusForbidden, "X-Twilio-Signature does not match: is SERAMBI_VOICE_PUBLIC_URL the URL Twilio calls?")
	}
	if sid := c.cfg.TwilioAccountSID; sid != "" && form.Get("AccountSid") != sid {
		c.log.Warn("Twilio callback of another account refused", "accountSid", form.Get("AccountSid"))
		return nil, false, jsonError(e, http.StatusForbidden, "callback of another Twilio account")
	}
	if !twilioSidRE.MatchString(form.Get("CallSid")) {
		return nil, false, jsonError(e, http.StatusBadRequest, "CallSid is missing or malformed")
	}
	return form, true, nil
}

func (c *Connector) handleTwilioStatus(e echo.Context) error {
	form, ok, err := c.twilioForm(e)
	if !ok {
		return err
	}
	return c.processTwilio(e, form, twilioStatusUpdates(form, c.now()))
}

func (c *Connector) handleTwilioRecording(e echo.Context) error {
	form, ok, err := c.twilioForm(e)
	if !ok {
		return err
	}
	return c.processTwilio(e, form, twilioRecordingUpdates(form, c.now()))
}

func (c *Connector) processTwilio(e echo.Context, form url.Values, ups []Update) error {
	if len(ups) > 0 {
		if _, err := c.Process(e.Request().Context(), ups...); errors.Is(err, inbox.ErrInvalid) {
			return jsonError(e, http.StatusBadRequest, err.Error())
		} else if err != nil {
			c.log.Error("could not record a Twilio callback", "callSid", form.Get("CallSid"), "err", err)
			return jsonError(e, http.StatusInternalServerError, "the callback could not be stored")
		}
	}
	return e.NoContent(http.StatusNoContent)
}

// twilioStatusUpdates maps a status callback onto call updates.
//
// A parent call (no ParentCallSid) is the customer's call: queued/initiated/ringing ring, a
// busy/failed/no-answer/canceled or completed call is over. Twilio picking up an incoming call
// (in-progress) only means its TwiML runs (a greeting, a queue), so for incoming calls the
// answer comes from the child legs: a <Dial> to an agent creates a child call whose
// ParentCallSid is the customer's call, and whose ringing and in-progress say which agent rings
// and who answered. An outgoing (API) call is answered when it is in-progress.
//
// Callbacks may arrive out of order: a completed callback with a CallDuration proves an answer
// that was missed (for a child or an outgoing call), and the state machine never moves back.
// Deliveries are deduplicated on (CallSid, SequenceNumber).
func twilioStatusUpdates(f url.Values, now time.Time) []Update {
	at := twilioTime(f.Get("Timestamp"), now)
	status := f.Get("CallStatus")
	dur, _ := strconv.Atoi(f.Get("CallDuration"))
	var dedupe string
	if seq := f.Get("SequenceNumber"); seq != "" {
		dedupe = "seq:" + f.Get("CallSid") + ":" + seq
	}
	var ups []Update
	add := func(u Update) {
		u.Source = SourceTwilio
		if u.At.IsZero() {
			u.At = at
		}
		if len(ups) == 0 {
			u.DedupeKey = dedupe
		}
		ups = append(ups, u)
	}
	if parent := f.Get("ParentCallSid"); parent != "" && twilioSidRE.MatchString(parent) {
		agent := agentPart(f.Get("To"))
		base := Update{CallID: string(SourceTwilio) + ":" + parent, Direction: DirectionIn, From: f.Get("From")}
		switch status {
		case "queued", "initiated", "ringing", "busy", "no-answer", "failed", "canceled":
			base.Kind, base.Ringing = UpdateRinging, []string{agent}
			add(base)
		case "in-progress":
			base.Kind, base.Agent, base.Extension = UpdateAnswered, agent, agent
			add(base)
		case "completed":
			base.Kind, base.Agent, base.Extension = UpdateAnswered, agent, agent
			if dur <= 0 {
				base.Kind, base.Agent, base.Extension, base.Ringing = UpdateRinging, "", "", []string{agent}
			} else {
				base.At = at.Add(-time.Duration(dur) * time.Second)
			}
			add(base)
		}
		return ups
	}
	dir := DirectionIn
	if strings.HasPrefix(f.Get("Direction"), "outbound") {
		dir = DirectionOut
	}
	base := Update{
		CallID: string(SourceTwilio) + ":" + f.Get("CallSid"), Direction: dir,
		From: f.Get("From"), To: f.Get("To"), CallerName: f.Get("CallerName"),
	}
	switch status {
	case "queued", "initiated", "ringing":
		base.Kind = UpdateRinging
		add(base)
	case "in-progress":
		base.Kind = UpdateRinging
		if dir == DirectionOut {
			base.Kind = UpdateAnswered
		}
		add(base)
	case "completed", "busy", "no-answer", "failed", "canceled":
		if dir == DirectionOut && status == "completed" && dur > 0 {
			ans := base
			ans.Kind, ans.At = UpdateAnswered, at.Add(-time.Duration(dur)*time.Second)
			add(ans)
		}
		end := base
		end.Kind = UpdateHangup
		if status != "completed" {
			end.Cause = status
		}
		if dir == DirectionOut {
			end.Duration = dur
		}
		add(end)
	}
	return ups
}

// twilioRecordingUpdates maps a recording status callback (RecordingStatusCallback) and a
// transcription callback (transcribeCallback, which carries TranscriptionText) onto call
// updates. A recording made by <Record> (RecordingSource RecordVerb) is the caller's voicemail.
// Only completed recordings have a URL worth keeping.
func twilioRecordingUpdates(f url.Values, now time.Time) []Update {
	callID := string(SourceTwilio) + ":" + f.Get("CallSid")
	at := twilioTime(f.Get("Timestamp"), now)
	var ups []Update
	status := f.Get("RecordingStatus")
	if url := f.Get("RecordingUrl"); url != "" && (status == "" || status == "completed") {
		dur, _ := strconv.Atoi(f.Get("RecordingDuration"))
		ups = append(ups, Update{
			CallID: callID, Source: SourceTwilio, Kind: UpdateRecording, At: at,
			RecordingURL: url, RecordingDuration: dur, Voicemail: f.Get("RecordingSource") == "RecordVerb",
			DedupeKey: "rec:" + f.Get("RecordingSid") + ":" + status,
		})
	}
	if text := f.Get("TranscriptionText"); text != "" && (f.Get("TranscriptionStatus") == "" || f.Get("TranscriptionStatus") == "completed") {
		u := Update{CallID: callID, Source: SourceTwilio, Kind: UpdateTranscript, At: at, Transcript: text}
		if len(ups) == 0 {
			u.DedupeKey = "tr:" + f.Get("TranscriptionSid")
		}
		ups = append(ups, u)
	}
	return ups
}

// twilioTime reads Twilio's Timestamp ("Mon, 16 Aug 2010 03:45:01 +0000").
func twilioTime(s string, now time.Time) time.Time {
	if t, err := time.Parse(time.RFC1123Z, s); err == nil {
		return t.UTC()
	}
	return now
}

// DefaultTwilioAPIBase is where Twilio serves recordings; its media needs the account's credentials.
const DefaultTwilioAPIBase = "https://api.twilio.com"

// Recording is an open call recording or voicemail.
type Recording struct {
	Body        io.ReadCloser
	ContentType string
	Size        int64 // -1 when unknown
}

// ErrNoRecording: the call has no recording.
var ErrNoRecording = errors.New("voice: the call has no recording")

// OpenRecording fetches the recording of a call, for the console's audio player to stream to a
// signed-in agent. Only the URL stored with the call is fetched, never one from the request.
// Twilio serves media only with the account's credentials (HTTP basic auth with the account SID
// and auth token), as MP3 when ".mp3" is appended; other URLs (a PBX's) are fetched as they are.
func (c *Connector) OpenRecording(ctx context.Context, callID string) (Recording, error) {
	call, err := c.loadCall(ctx, callID)
	if err != nil {
		return Recording{}, err
	}
	if call.RecordingURL == "" {
		return Recording{}, fmt.Errorf("call %s: %w", callID, ErrNoRecording)
	}
	target := call.RecordingURL
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return Recording{}, fmt.Errorf("recording of %s: %w", callID, err)
	}
	if base := c.cfg.TwilioAPIBase; strings.HasPrefix(target, base+"/") {
		if c.cfg.TwilioAccountSID == "" || c.cfg.TwilioAuthToken == "" {
			return Recording{}, fmt.Errorf("playing Twilio recordings needs SERAMBI_VOICE_TWILIO_ACCOUNT_SID and _AUTH_TOKEN: %w", ErrNotConfigured)
		}
		if path.Ext(req.URL.Path) == "" {
			req.URL.Path += ".mp3"
		}
		req.SetBasicAuth(c.cfg.TwilioAccountSID, c.cfg.TwilioAuthToken.Reveal())
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Recording{}, fmt.Errorf("fetch the recording of %s: %w", callID, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return Recording{}, fmt.Errorf("fetch the recording of %s: %s", callID, resp.Status)
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	return Recording{Body: resp.Body, ContentType: ct, Size: resp.ContentLength}, nil
}
