package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/inbox"
)

var _ agents.CannedStore = (*Store)(nil)

// mustChange runs a statement that must change one row: none is ErrNotFound, a unique key taken
// is ErrConflict.
func mustChange(w *writer, what string, q string, args ...any) error {
	n, err := affected(w.exec(q, args...))
	if isConstraint(err) {
		return fmt.Errorf("%s: already taken: %w", what, inbox.ErrConflict)
	}
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, inbox.ErrNotFound)
	}
	return nil
}

const agentCols = `id, email, name, password_hash, role, team_ids, locale, timezone, extension, disabled, created_at, updated_at`

func agentValues(a agents.Agent) ([]any, error) {
	teams := a.TeamIDs
	if teams == nil {
		teams = []string{}
	}
	tj, err := json.Marshal(teams)
	if err != nil {
		return nil, err
	}
	return []any{a.ID, a.Email, a.Name, a.PasswordHash, string(a.Role), string(tj), a.Locale, a.Timezone, a.Extension,
		b2i(a.Disabled), ts(a.CreatedAt), ts(a.UpdatedAt)}, nil
}

func scanAgents(rows *sql.Rows, err error) ([]agents.Agent, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []agents.Agent
	for rows.Next() {
		var a agents.Agent
		var role, teams string
		var disabled int
		var created, updated int64
		if err := rows.Scan(&a.ID, &a.Email, &a.Name, &a.PasswordHash, &role, &teams, &a.Locale, &a.Timezone,
			&a.Extension, &disabled, &created, &updated); err != nil {
			return nil, err
		}
		a.Role, a.Disabled, a.CreatedAt, a.UpdatedAt = agents.Role(role), disabled == 1, fromTS(created), fromTS(updated)
		if err := json.Unmarshal([]byte(teams), &a.TeamIDs); err != nil {
			return nil, fmt.Errorf("agent %s teams: %w", a.ID, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func oneAgent(list []agents.Agent, err error) (agents.Agent, error) {
	if err != nil {
		return agents.Agent{}, err
	}
	if len(list) == 0 {
		return agents.Agent{}, fmt.Errorf("agent: %w", inbox.ErrNotFound)
	}
	return list[0], nil
}

// CreateAgent stores a; a taken email is ErrConflict.
func (s *Store) CreateAgent(ctx context.Context, a agents.Agent) error {
	vals, err := agentValues(a)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *writer) error {
		return mustChange(w, "agent "+a.Email, `INSERT INTO agents (`+agentCols+`) VALUES (`+placeholders(12)+`)`, vals...)
	})
}

// AgentByID returns an agent by id.
func (s *Store) AgentByID(ctx context.Context, id string) (agents.Agent, error) {
	return oneAgent(scanAgents(s.lookup(ctx).query(`SELECT `+agentCols+` FROM agents WHERE id = ?`, id)))
}

// AgentByEmail returns the agent with that (lower-cased) email.
func (s *Store) AgentByEmail(ctx context.Context, email string) (agents.Agent, error) {
	return oneAgent(scanAgents(s.lookup(ctx).query(`SELECT `+agentCols+` FROM agents WHERE email = ?`, strings.ToLower(email))))
}

// ListAgents lists every agent ordered by name.
func (s *Store) ListAgents(ctx context.Context) ([]agents.Agent, error) {
	return scanAgents(s.reader(ctx).query(`SELECT ` + agentCols + ` FROM agents ORDER BY name, id LIMIT 10000`))
}

// UpdateAgent replaces the stored agent with a.
func (s *Store) UpdateAgent(ctx context.Context, a agents.Agent) error {
	vals, err := agentValues(a)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *writer) error {
		return mustChange(w, "agent "+a.ID, `UPDATE agents SET email = ?, name = ?, password_hash = ?, role = ?, team_ids = ?,
			locale = ?, timezone = ?, extension = ?, disabled = ?, created_at = ?, updated_at = ? WHERE id = ?`,
			append(vals[1:], a.ID)...)
	})
}

// CountAgents counts the agents of a role, disabled ones included: a disabled admin still means
// the instance has been set up.
func (s *Store) CountAgents(ctx context.Context, role agents.Role) (int, error) {
	var n int
	err := queryOne(s.reader(ctx), `SELECT COUNT(*) FROM agents WHERE role = ?`, []any{string(role)}, &n)
	return n, err
}

const sessionCols = `id, agent_id, csrf_token, user_agent, ip, created_at, last_seen_at, expires_at`

func scanSessions(rows *sql.Rows, err error) ([]agents.Session, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []agents.Session
	for rows.Next() {
		var x agents.Session
		var created, seen, expires int64
		if err := rows.Scan(&x.ID, &x.AgentID, &x.CSRFToken, &x.UserAgent, &x.IP, &created, &seen, &expires); err != nil {
			return nil, err
		}
		x.CreatedAt, x.LastSeenAt, x.ExpiresAt = fromTS(created), fromTS(seen), fromTS(expires)
		out = append(out, x)
	}
	return out, rows.Err()
}

// CreateSession stores a session.
func (s *Store) CreateSession(ctx context.Context, x agents.Session) error {
	return s.write(ctx, func(w *writer) error {
		return mustChange(w, "session", `INSERT INTO sessions (`+sessionCols+`) VALUES (`+placeholders(8)+`)`,
			x.ID, x.AgentID, x.CSRFToken, x.UserAgent, x.IP, ts(x.CreatedAt), ts(x.LastSeenAt), ts(x.ExpiresAt))
	})
}

// SessionByID returns a session by its id (the token's hash).
func (s *Store) SessionByID(ctx context.Context, id string) (agents.Session, error) {
	list, err := scanSessions(s.lookup(ctx).query(`SELECT `+sessionCols+` FROM sessions WHERE id = ?`, id))
	if err != nil {
		return agents.Session{}, err
	}
	if len(list) == 0 {
		return agents.Session{}, fmt.Errorf("session: %w", inbox.ErrNotFound)
	}
	return list[0], nil
}

// TouchSession records activity and extends the expiry.
func (s *Store) TouchSession(ctx context.Context, id string, seen, expires time.Time) error {
	return s.write(ctx, func(w *writer) error {
		return mustChange(w, "session", `UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id = ?`, ts(seen), ts(expires), id)
	})
}

// DeleteSession ends a session; ending one that does not exist is not an error (a repeated logout).
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return s.write(ctx, func(w *writer) error {
		_, err := w.exec(`DELETE FROM sessions WHERE id = ?`, id)
		return err
	})
}

// ListSessions lists an agent's sessions newest first.
func (s *Store) ListSessions(ctx context.Context, agentID string) ([]agents.Session, error) {
	return scanSessions(s.reader(ctx).query(`SELECT `+sessionCols+` FROM sessions WHERE agent_id = ?
		ORDER BY created_at DESC, id DESC LIMIT 1000`, agentID))
}

// DeleteAgentSessions signs an agent out everywhere.
func (s *Store) DeleteAgentSessions(ctx context.Context, agentID string) error {
	return s.write(ctx, func(w *writer) error {
		_, err := w.exec(`DELETE FROM sessions WHERE agent_id = ?`, agentID)
		return err
	})
}

// CreateTeam stores a team; a taken name is ErrConflict.
func (s *Store) CreateTeam(ctx context.Context, t agents.Team) error {
	return s.write(ctx, func(w *writer) error {
		return mustChange(w, "team "+t.Name, `INSERT INTO teams (id, name, created_at) VALUES (?, ?, ?)`, t.ID, t.Name, ts(t.CreatedAt))
	})
}

// ListTeams lists every team ordered by name.
func (s *Store) ListTeams(ctx context.Context) ([]agents.Team, error) {
	rows, err := s.reader(ctx).query(`SELECT id, name, created_at FROM teams ORDER BY name, id LIMIT 10000`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []agents.Team
	for rows.Next() {
		var t agents.Team
		var created int64
		if err := rows.Scan(&t.ID, &t.Name, &created); err != nil {
			return nil, err
		}
		t.CreatedAt = fromTS(created)
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteTeam removes a team.
func (s *Store) DeleteTeam(ctx context.Context, id string) error {
	return s.write(ctx, func(w *writer) error {
		return mustChange(w, "team "+id, `DELETE FROM teams WHERE id = ?`, id)
	})
}

// CreateCanned stores a canned response; a taken shortcut is ErrConflict.
func (s *Store) CreateCanned(ctx context.Context, c agents.CannedResponse) error {
	return s.write(ctx, func(w *writer) error {
		return mustChange(w, "canned response /"+c.Shortcut, `INSERT INTO canned_responses
			(id, shortcut, title, text, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.Shortcut, c.Title, c.Text, c.CreatedBy, ts(c.CreatedAt), ts(c.UpdatedAt))
	})
}

// UpdateCanned replaces a canned response's shortcut, title and text.
func (s *Store) UpdateCanned(ctx context.Context, c agents.CannedResponse) error {
	return s.write(ctx, func(w *writer) error {
		return mustChange(w, "canned response "+c.ID, `UPDATE canned_responses SET shortcut = ?, title = ?, text = ?, updated_at = ?
			WHERE id = ?`, c.Shortcut, c.Title, c.Text, ts(c.UpdatedAt), c.ID)
	})
}

// DeleteCanned removes a canned response.
func (s *Store) DeleteCanned(ctx context.Context, id string) error {
	return s.write(ctx, func(w *writer) error {
		return mustChange(w, "canned response "+id, `DELETE FROM canned_responses WHERE id = ?`, id)
	})
}

// ListCanned lists every canned response ordered by shortcut.
func (s *Store) ListCanned(ctx context.Context) ([]agents.CannedResponse, error) {
	rows, err := s.reader(ctx).query(`SELECT id, shortcut, title, text, created_by, created_at, updated_at
		FROM canned_responses ORDER BY shortcut LIMIT 10000`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []agents.CannedResponse
	for rows.Next() {
		var c agents.CannedResponse
		var created, updated int64
		if err := rows.Scan(&c.ID, &c.Shortcut, &c.Title, &c.Text, &c.CreatedBy, &created, &updated); err != nil {
			return nil, err
		}
		c.CreatedAt, c.UpdatedAt = fromTS(created), fromTS(updated)
		out = append(out, c)
	}
	return out, rows.Err()
}
