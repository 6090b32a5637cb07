-- When the customer last wrote on each channel, as a JSON object of channel to time: WhatsApp's
-- 24-hour window opens only with a WhatsApp message (inbox.Conversation.LastInbound). Existing
-- rows start empty and fall back to last_inbound_at.
ALTER TABLE conversations ADD COLUMN last_inbound TEXT NOT NULL DEFAULT '{}';
