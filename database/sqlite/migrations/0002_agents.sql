CREATE TABLE agents (
	id            TEXT PRIMARY KEY,
	email         TEXT NOT NULL UNIQUE,
	name          TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	role          TEXT NOT NULL,
	team_ids      TEXT NOT NULL DEFAULT '[]',
	locale        TEXT NOT NULL DEFAULT '',
	timezone      TEXT NOT NULL DEFAULT '',
	extension     TEXT NOT NULL DEFAULT '',
	disabled      INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
);
CREATE INDEX agents_name ON agents (name, id);
CREATE INDEX agents_role ON agents (role);

-- id is the SHA-256 of the cookie token, never the token.
CREATE TABLE sessions (
	id           TEXT PRIMARY KEY,
	agent_id     TEXT NOT NULL,
	csrf_token   TEXT NOT NULL,
	user_agent   TEXT NOT NULL DEFAULT '',
	ip           TEXT NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	last_seen_at INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL
);
CREATE INDEX sessions_agent ON sessions (agent_id, created_at DESC);

CREATE TABLE teams (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
);

CREATE TABLE canned_responses (
	id         TEXT PRIMARY KEY,
	shortcut   TEXT NOT NULL UNIQUE,
	title      TEXT NOT NULL,
	text       TEXT NOT NULL,
	created_by TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
