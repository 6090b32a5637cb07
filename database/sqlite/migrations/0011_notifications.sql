-- Notifications (package notifications): an agent's mentions and assignments, kept until read
-- and a while after. Each row belongs to one agent; every query names the agent.

CREATE TABLE notifications (
	id              TEXT PRIMARY KEY,
	agent_id        TEXT NOT NULL,
	kind            TEXT NOT NULL,
	conversation_id TEXT NOT NULL,
	customer_id     TEXT NOT NULL DEFAULT '',
	message_id      TEXT NOT NULL,
	actor_id        TEXT NOT NULL DEFAULT '',
	excerpt         TEXT NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	read_at         INTEGER NOT NULL DEFAULT 0 -- 0 while unread
);
-- Creating a notification is idempotent: the same note or assignment notifies an agent once.
CREATE UNIQUE INDEX notifications_once ON notifications (agent_id, kind, message_id);
-- An agent's list, newest first, and pruning their old read ones.
CREATE INDEX notifications_agent ON notifications (agent_id, created_at DESC, id DESC);
-- The bell: an agent's unread count.
CREATE INDEX notifications_unread ON notifications (agent_id, created_at) WHERE read_at = 0;
