// Package agents holds who may use Serambi: agent accounts, sessions, roles and teams, and the
// API keys that programs use.
package agents

import (
	"context"
	"time"
)

// Role decides what an agent may do.
type Role string

const (
	RoleAdmin Role = "admin" // manages agents, teams, channels and settings
	RoleAgent Role = "agent" // works conversations
)

// Agent is a person who answers customers.
type Agent struct {
	ID           string   `json:"id"`
	Email        string   `json:"email"` // lower-cased; unique
	Name         string   `json:"name"`
	PasswordHash string   `json:"-"` // argon2id, PHC string format
	Role         Role     `json:"role"`
	TeamIDs      []string `json:"teamIds"`
	Locale       string   `json:"locale"`   // "en" or "id"
	Timezone     string   `json:"timezone"` // IANA name, e.g. Asia/Jakarta
	// Extension is the agent's phone extension, for screen-pops and click-to-call.
	Extension string    `json:"extension,omitempty"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Session is a signed-in browser. Its ID is the SHA-256 (hex) of the cookie's random token, so a
// leaked database does not hand out live sessions.
type Session struct {
	ID         string    `json:"-"`
	AgentID    string    `json:"agentId"`
	CSRFToken  string    `json:"-"`
	UserAgent  string    `json:"userAgent"`
	IP         string    `json:"ip"`
	CreatedAt  time.Time `json:"createdAt"`
	LastSeenAt time.Time `json:"lastSeenAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

// Team groups agents; conversations can be assigned to a team.
type Team struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"` // unique
	CreatedAt time.Time `json:"createdAt"`
}

// APIKey is a key for the REST API. Only the SHA-256 of the secret is stored: keys are random
// 256-bit tokens, so a fast hash is as safe as a slow one and costs nothing per request.
type APIKey struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Hash      string    `json:"-"` // hex SHA-256 of the secret
	CreatedAt time.Time `json:"createdAt"`
	LastUsed  time.Time `json:"lastUsed,omitzero"`
	Revoked   bool      `json:"revoked"`
}

// Store is what the agents package needs from storage. Lookups of absent things return
// inbox.ErrNotFound; a unique key already taken (agent email, team name) returns inbox.ErrConflict.
type Store interface {
	CreateAPIKey(ctx context.Context, k APIKey) error
	APIKeyByHash(ctx context.Context, hash string) (APIKey, error)
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, id string) error

	CreateAgent(ctx context.Context, a Agent) error
	AgentByID(ctx context.Context, id string) (Agent, error)
	AgentByEmail(ctx context.Context, email string) (Agent, error)
	ListAgents(ctx context.Context) ([]Agent, error) // ordered by name
	// UpdateAgent replaces the stored agent with a (matched by ID).
	UpdateAgent(ctx context.Context, a Agent) error
	CountAgents(ctx context.Context, role Role) (int, error)

	CreateSession(ctx context.Context, s Session) error
	SessionByID(ctx context.Context, id string) (Session, error)
	// TouchSession records activity and extends the expiry.
	TouchSession(ctx context.Context, id string, seen, expires time.Time) error
	DeleteSession(ctx context.Context, id string) error
	ListSessions(ctx context.Context, agentID string) ([]Session, error) // newest first
	// DeleteAgentSessions signs an agent out everywhere (password change, disabling).
	DeleteAgentSessions(ctx context.Context, agentID string) error

	CreateTeam(ctx context.Context, t Team) error
	ListTeams(ctx context.Context) ([]Team, error) // ordered by name
	DeleteTeam(ctx context.Context, id string) error
}
