package mongo

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/inbox"
)

type agentDoc struct {
	ID           string    `bson:"_id"`
	Email        string    `bson:"email"` // unique index
	Name         string    `bson:"name"`
	PasswordHash string    `bson:"passwordHash"`
	Role         string    `bson:"role"`
	TeamIDs      []string  `bson:"teamIds"`
	Locale       string    `bson:"locale"`
	Timezone     string    `bson:"timezone"`
	Extension    string    `bson:"extension,omitempty"`
	Disabled     bool      `bson:"disabled"`
	CreatedAt    time.Time `bson:"createdAt"`
	UpdatedAt    time.Time `bson:"updatedAt"`
}

func toAgentDoc(a agents.Agent) agentDoc {
	d := agentDoc{ID: a.ID, Email: a.Email, Name: a.Name, PasswordHash: a.PasswordHash, Role: string(a.Role),
		TeamIDs: slices.Clone(a.TeamIDs), Locale: a.Locale, Timezone: a.Timezone, Extension: a.Extension,
		Disabled: a.Disabled, CreatedAt: ms(a.CreatedAt), UpdatedAt: ms(a.UpdatedAt)}
	if d.TeamIDs == nil {
		d.TeamIDs = []string{}
	}
	return d
}

func (d agentDoc) agent() agents.Agent {
	a := agents.Agent{ID: d.ID, Email: d.Email, Name: d.Name, PasswordHash: d.PasswordHash, Role: agents.Role(d.Role),
		TeamIDs: slices.Clone(d.TeamIDs), Locale: d.Locale, Timezone: d.Timezone, Extension: d.Extension,
		Disabled: d.Disabled, CreatedAt: fromDB(d.CreatedAt), UpdatedAt: fromDB(d.UpdatedAt)}
	if a.TeamIDs == nil {
		a.TeamIDs = []string{}
	}
	return a
}

// maxAccounts bounds lists of agents and teams: a support team, not a user base.
const maxAccounts = 1000

// CreateAgent stores a; a taken id or email is a conflict.
func (s *Store) CreateAgent(ctx context.Context, a agents.Agent) error {
	_, err := s.agents.InsertOne(ctx, toAgentDoc(a))
	if isDuplicateKey(err) {
		return fmt.Errorf("mongo: an agent with id %s or email %s exists already: %w", a.ID, a.Email, inbox.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("mongo: insert agent %s: %w", a.ID, err)
	}
	return nil
}

func (s *Store) agentBy(ctx context.Context, field, value string) (agents.Agent, error) {
	var d agentDoc
	if err := s.agents.FindOne(ctx, bson.D{{Key: field, Value: value}}).Decode(&d); err != nil {
		return agents.Agent{}, fmt.Errorf("mongo: agent by %s: %w", field, notFound(err))
	}
	return d.agent(), nil
}

// AgentByID returns an agent.
func (s *Store) AgentByID(ctx context.Context, id string) (agents.Agent, error) {
	return s.agentBy(ctx, "_id", id)
}

// AgentByEmail returns the agent with that (lower-cased) email.
func (s *Store) AgentByEmail(ctx context.Context, email string) (agents.Agent, error) {
	return s.agentBy(ctx, "email", email)
}

// ListAgents returns every agent ordered by name.
func (s *Store) ListAgents(ctx context.Context) ([]agents.Agent, error) {
	docs, err := findAll[agentDoc](ctx, s.agents, bson.D{}, options.Find().
		SetSort(bson.D{{Key: "name", Value: 1}, {Key: "_id", Value: 1}}).SetLimit(maxAccounts))
	if err != nil {
		return nil, fmt.Errorf("mongo: list agents: %w", err)
	}
	out := make([]agents.Agent, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.agent())
	}
	return out, nil
}

// UpdateAgent replaces the stored agent.
func (s *Store) UpdateAgent(ctx context.Context, a agents.Agent) error {
	unlock := s.exclusive(s.agents)
	defer unlock()
	res, err := s.agents.ReplaceOne(ctx, bson.D{{Key: "_id", Value: a.ID}}, toAgentDoc(a))
	if isDuplicateKey(err) {
		return fmt.Errorf("mongo: email %s belongs to another agent: %w", a.Email, inbox.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("mongo: update agent %s: %w", a.ID, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("mongo: agent %s: %w", a.ID, inbox.ErrNotFound)
	}
	return nil
}

// CountAgents counts the agents of a role, every agent when role is empty.
func (s *Store) CountAgents(ctx context.Context, role agents.Role) (int, error) {
	q := bson.D{}
	if role != "" {
		q = append(q, bson.E{Key: "role", Value: string(role)})
	}
	n, err := s.agents.CountDocuments(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("mongo: count agents: %w", err)
	}
	return int(n), nil
}

type sessionDoc struct {
	ID         string    `bson:"_id"` // SHA-256 of the cookie token
	AgentID    string    `bson:"agentId"`
	CSRFToken  string    `bson:"csrfToken"`
	UserAgent  string    `bson:"userAgent"`
	IP         string    `bson:"ip"`
	CreatedAt  time.Time `bson:"createdAt"`
	LastSeenAt time.Time `bson:"lastSeenAt"`
	ExpiresAt  time.Time `bson:"expiresAt"`
}

func (d sessionDoc) session() agents.Session {
	return agents.Session{ID: d.ID, AgentID: d.AgentID, CSRFToken: d.CSRFToken, UserAgent: d.UserAgent, IP: d.IP,
		CreatedAt: fromDB(d.CreatedAt), LastSeenAt: fromDB(d.LastSeenAt), ExpiresAt: fromDB(d.ExpiresAt)}
}

// CreateSession stores a session.
func (s *Store) CreateSession(ctx context.Context, x agents.Session) error {
	_, err := s.sessions.InsertOne(ctx, sessionDoc{ID: x.ID, AgentID: x.AgentID, CSRFToken: x.CSRFToken, UserAgent: x.UserAgent,
		IP: x.IP, CreatedAt: ms(x.CreatedAt), LastSeenAt: ms(x.LastSeenAt), ExpiresAt: ms(x.ExpiresAt)})
	if isDuplicateKey(err) {
		return fmt.Errorf("mongo: session exists already: %w", inbox.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("mongo: insert session of agent %s: %w", x.AgentID, err)
	}
	return nil
}

// SessionByID returns a session. Its id is a token's hash: it stays out of error messages.
func (s *Store) SessionByID(ctx context.Context, id string) (agents.Session, error) {
	var d sessionDoc
	if err := s.sessions.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil {
		return agents.Session{}, fmt.Errorf("mongo: session: %w", notFound(err))
	}
	return d.session(), nil
}

// TouchSession records activity and extends the expiry.
func (s *Store) TouchSession(ctx context.Context, id string, seen, expires time.Time) error {
	unlock := s.exclusive(s.sessions)
	defer unlock()
	res, err := s.sessions.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "lastSeenAt", Value: ms(seen)}, {Key: "expiresAt", Value: ms(expires)}}}})
	if err != nil {
		return fmt.Errorf("mongo: touch session: %w", err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("mongo: session: %w", inbox.ErrNotFound)
	}
	return nil
}

// DeleteSession ends a session; ending one that is gone already is not an error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if _, err := s.sessions.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("mongo: delete session: %w", err)
	}
	return nil
}

// ListSessions returns an agent's sessions, newest first.
func (s *Store) ListSessions(ctx context.Context, agentID string) ([]agents.Session, error) {
	docs, err := findAll[sessionDoc](ctx, s.sessions, bson.D{{Key: "agentId", Value: agentID}}, options.Find().
		SetSort(bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(maxAccounts))
	if err != nil {
		return nil, fmt.Errorf("mongo: list sessions of agent %s: %w", agentID, err)
	}
	out := make([]agents.Session, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.session())
	}
	return out, nil
}

// DeleteAgentSessions signs an agent out everywhere.
func (s *Store) DeleteAgentSessions(ctx context.Context, agentID string) error {
	unlock := s.exclusive(s.sessions)
	defer unlock()
	if _, err := s.sessions.DeleteMany(ctx, bson.D{{Key: "agentId", Value: agentID}}); err != nil {
		return fmt.Errorf("mongo: delete sessions of agent %s: %w", agentID, err)
	}
	return nil
}

type teamDoc struct {
	ID        string    `bson:"_id"`
	Name      string    `bson:"name"` // unique index
	CreatedAt time.Time `bson:"createdAt"`
}

// CreateTeam stores a team; a taken name is a conflict.
func (s *Store) CreateTeam(ctx context.Context, t agents.Team) error {
	_, err := s.teams.InsertOne(ctx, teamDoc{ID: t.ID, Name: t.Name, CreatedAt: ms(t.CreatedAt)})
	if isDuplicateKey(err) {
		return fmt.Errorf("mongo: a team named %q exists already: %w", t.Name, inbox.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("mongo: insert team %s: %w", t.ID, err)
	}
	return nil
}

// ListTeams returns every team ordered by name.
func (s *Store) ListTeams(ctx context.Context) ([]agents.Team, error) {
	docs, err := findAll[teamDoc](ctx, s.teams, bson.D{}, options.Find().
		SetSort(bson.D{{Key: "name", Value: 1}, {Key: "_id", Value: 1}}).SetLimit(maxAccounts))
	if err != nil {
		return nil, fmt.Errorf("mongo: list teams: %w", err)
	}
	out := make([]agents.Team, 0, len(docs))
	for _, d := range docs {
		out = append(out, agents.Team{ID: d.ID, Name: d.Name, CreatedAt: fromDB(d.CreatedAt)})
	}
	return out, nil
}

// DeleteTeam removes a team.
func (s *Store) DeleteTeam(ctx context.Context, id string) error {
	res, err := s.teams.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return fmt.Errorf("mongo: delete team %s: %w", id, err)
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("mongo: team %s: %w", id, inbox.ErrNotFound)
	}
	return nil
}
