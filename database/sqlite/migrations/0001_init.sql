-- Times are INTEGER unix nanoseconds in UTC, 0 for "not set", so they sort as numbers.
-- Flexible parts (attachments, meta, event, tags, channels) are JSON text.

CREATE TABLE customers (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL DEFAULT '',
	avatar      TEXT NOT NULL DEFAULT '',
	locale      TEXT NOT NULL DEFAULT '',
	merged_into TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);

-- Clustered by customer so that loading a customer reads one range.
CREATE TABLE identities (
	customer_id TEXT NOT NULL,
	kind        TEXT NOT NULL,
	value       TEXT NOT NULL,
	verified    INTEGER NOT NULL,
	unreachable INTEGER NOT NULL DEFAULT 0,
	added_at    INTEGER NOT NULL,
	PRIMARY KEY (customer_id, kind, value)
) WITHOUT ROWID;
-- A verified identity belongs to exactly one customer: this index is the claim.
CREATE UNIQUE INDEX identities_claim ON identities (kind, value) WHERE verified = 1;
-- Every holder, verified or not, for merge suggestions.
CREATE INDEX identities_holders ON identities (kind, value);

CREATE TABLE conversations (
	id              TEXT PRIMARY KEY,
	customer_id     TEXT NOT NULL UNIQUE,
	status          TEXT NOT NULL,
	assignee_id     TEXT NOT NULL DEFAULT '',
	team_id         TEXT NOT NULL DEFAULT '',
	tags            TEXT NOT NULL DEFAULT '[]',
	priority        TEXT NOT NULL DEFAULT '',
	channels        TEXT NOT NULL DEFAULT '[]',
	last_channel    TEXT NOT NULL DEFAULT '',
	last_message_at INTEGER NOT NULL DEFAULT 0,
	last_inbound_at INTEGER NOT NULL DEFAULT 0,
	preview         TEXT NOT NULL DEFAULT '',
	unread          INTEGER NOT NULL DEFAULT 0,
	snoozed_until   INTEGER NOT NULL DEFAULT 0,
	sla_due_at      INTEGER NOT NULL DEFAULT 0,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL
) WITHOUT ROWID;
-- The list is read newest activity first; each filter that narrows it has an index that yields
-- rows already in that order, so a page reads only the rows it returns. Several statuses at once
-- (or all of them) are a UNION ALL of one ordered range per status, merged. Every message moves
-- its conversation in each of these indexes, so there is deliberately no index on activity alone.
CREATE INDEX conversations_status   ON conversations (status, last_message_at DESC, id DESC);
CREATE INDEX conversations_assignee ON conversations (assignee_id, status, last_message_at DESC, id DESC);
-- Partial: most conversations have no team, and those need no entry to keep up to date.
CREATE INDEX conversations_team     ON conversations (team_id, status, last_message_at DESC, id DESC) WHERE team_id <> '';

-- Tags and channels are sets on the conversation row (JSON). This side table has a row per member,
-- so that filters on them are index lookups. Tag rows also copy their conversation's status and
-- sort key, kept in step by the store, so that a tag's list is an ordered index range. Channel rows
-- do not (status '' and 0): every message would rewrite them; a channel filter walks the activity
-- order and checks the primary key.
CREATE TABLE conversation_labels (
	conversation_id TEXT NOT NULL,
	kind            TEXT NOT NULL, -- 'tag' or 'channel'
	label           TEXT NOT NULL,
	status          TEXT NOT NULL,
	last_message_at INTEGER NOT NULL,
	PRIMARY KEY (conversation_id, kind, label)
) WITHOUT ROWID;
CREATE INDEX conversation_labels_list ON conversation_labels (kind, label, status, last_message_at DESC, conversation_id DESC);

CREATE TABLE messages (
	id              TEXT PRIMARY KEY,
	conversation_id TEXT NOT NULL,
	customer_id     TEXT NOT NULL,
	direction       TEXT NOT NULL,
	channel         TEXT NOT NULL,
	external_id     TEXT NOT NULL DEFAULT '',
	thread_key      TEXT NOT NULL DEFAULT '',
	subject         TEXT NOT NULL DEFAULT '',
	text            TEXT NOT NULL DEFAULT '',
	html            TEXT NOT NULL DEFAULT '',
	attachments     TEXT NOT NULL DEFAULT '',
	author_id       TEXT NOT NULL DEFAULT '',
	author_name     TEXT NOT NULL DEFAULT '',
	delivery        TEXT NOT NULL DEFAULT '',
	delivery_error  TEXT NOT NULL DEFAULT '',
	event           TEXT NOT NULL DEFAULT '',
	meta            TEXT NOT NULL DEFAULT '',
	sent_at         INTEGER NOT NULL DEFAULT 0,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
-- WITHOUT ROWID: the table is the id's b-tree (ids are ULIDs, so rows are appended), which saves
-- the separate id index a rowid table would need on every insert. Rows are a few hundred bytes;
-- long emails spill to overflow pages, which both table kinds do.
CREATE INDEX messages_timeline ON messages (conversation_id, created_at DESC, id DESC);
-- Every ingest is idempotent on (channel, external id); messages without one never collide.
CREATE UNIQUE INDEX messages_external ON messages (channel, external_id) WHERE external_id <> '';

CREATE TABLE outbox (
	id              TEXT PRIMARY KEY,
	message_id      TEXT NOT NULL,
	channel         TEXT NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	lease_owner     TEXT NOT NULL DEFAULT '',
	lease_until     INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id);
CREATE INDEX outbox_owner ON outbox (lease_owner) WHERE lease_owner <> '';

CREATE TABLE suggestions (
	customer_id TEXT NOT NULL,
	other_id    TEXT NOT NULL,
	reason      TEXT NOT NULL,
	at          INTEGER NOT NULL,
	PRIMARY KEY (customer_id, other_id)
) WITHOUT ROWID;
CREATE INDEX suggestions_other ON suggestions (other_id);

CREATE TABLE audit (
	id          TEXT PRIMARY KEY,
	actor_id    TEXT NOT NULL,
	action      TEXT NOT NULL,
	customer_id TEXT NOT NULL,
	data        TEXT NOT NULL DEFAULT '',
	at          INTEGER NOT NULL
);
CREATE INDEX audit_customer ON audit (customer_id, at DESC, id DESC);

CREATE TABLE api_keys (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	hash       TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	last_used  INTEGER NOT NULL DEFAULT 0,
	revoked    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE connector_state (
	key   TEXT PRIMARY KEY,
	state BLOB NOT NULL
);

CREATE TABLE leases (
	key   TEXT PRIMARY KEY,
	owner TEXT NOT NULL,
	until INTEGER NOT NULL
);
