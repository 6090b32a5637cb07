// Package voice is the call-center connector. Calls reported by three kinds of source (a generic
// CTI webhook in Zammad's shape, Twilio Voice status and recording callbacks, an Asterisk
// Manager Interface connection) are normalised to one Call and one small state machine (Apply),
// kept in the connector state store so that every instance agrees, and written into the caller's
// one conversation: the first event of a call is ingested like a message (an unknown number
// becomes a customer, a known number joins its customer), later states are idempotent channel
// events. A ringing call is announced on the bus for the console's screen-pop; a missed call
// reopens the conversation with a "call back" task that the next answered call to or from that
// number resolves. Click-to-call originates through Asterisk.
//
// # Setting the sources up
//
// Generic CTI (SERAMBI_VOICE_CTI_TOKEN): point the PBX's Zammad-style CTI script at
// POST <public URL>/api/v1/voice/cti/<token>. JSON and form bodies are accepted; newCall, answer
// and hangup with Zammad's causes. The token is part of the URL: keep request logs from printing
// it. Numbers without '+' or a leading 0 are read as international (SERAMBI_VOICE_BARE_NUMBERS).
//
// Twilio (SERAMBI_VOICE_TWILIO_AUTH_TOKEN, SERAMBI_VOICE_PUBLIC_URL): set the number's "call
// status changes" URL to <public URL>/api/v1/voice/twilio/status (POST). Twilio answering a call
// only starts its TwiML, so who answered comes from the agent legs: give <Dial>'s <Client>,
// <Sip> or <Number> statusCallback=<public URL>/api/v1/voice/twilio/status with
// statusCallbackEvent="initiated ringing answered completed", and leave <Dial callerId> unset so
// the agent leg carries the caller's number. Recordings and voicemail: recordingStatusCallback
// (and transcribeCallback) = <public URL>/api/v1/voice/twilio/recording. Every callback is checked
// against X-Twilio-Signature computed over SERAMBI_VOICE_PUBLIC_URL + the request's path and
// query, because behind a proxy the Host Serambi sees is not the URL Twilio signed; the public
// URL must therefore be exactly the scheme, host and path prefix configured at Twilio.
//
// Asterisk (SERAMBI_VOICE_AMI_*): a manager.conf user with read=call,agent,dialplan,system and
// write=originate,call,system (timestampevents=yes gives exact call times). Calls are followed
// when they join SERAMBI_VOICE_AMI_QUEUES or ring SERAMBI_VOICE_AMI_EXTENSIONS, or when one of
// those extensions dials out; click-to-call rings <ORIGINATE_TECH>/<extension> and then runs
// <ORIGINATE_CONTEXT>,<customer number>,1. A dialplan may Set(SERAMBI_RECORDING_URL=...) and
// Set(SERAMBI_TRANSCRIPT=...) on a call to attach a recording or transcript; MixMonitor's file
// becomes a URL under SERAMBI_VOICE_AMI_RECORDING_URL.
package voice
