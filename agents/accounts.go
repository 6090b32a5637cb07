package agents

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/serambi/serambi/inbox"
)

// ErrLastAdmin: the change would leave no enabled admin, and nobody could manage accounts again.
var ErrLastAdmin = errors.New("the last admin cannot be demoted or disabled")

// Agents lists every account, ordered by name.
func (s *Service) Agents(ctx context.Context) ([]Agent, error) { return s.store.ListAgents(ctx) }

// Agent returns one account.
func (s *Service) Agent(ctx context.Context, id string) (Agent, error) {
	a, err := s.store.AgentByID(ctx, id)
	if err != nil {
		return Agent{}, fmt.Errorf("load agent %s: %w", id, err)
	}
	return a, nil
}

// AgentChange is what an admin changes on an account; nil fields stay.
type AgentChange struct {
	Name      *string
	Role      *Role
	Disabled  *bool
	TeamIDs   *[]string
	Locale    *string
	Timezone  *string
	Extension *string
}

// Update changes an account. Disabling signs the agent out everywhere; demoting or disabling the
// last enabled admin is refused with ErrLastAdmin.
func (s *Service) Update(ctx context.Context, id string, ch AgentChange) (Agent, error) {
	a, err := s.Agent(ctx, id)
	if err != nil {
		return Agent{}, err
	}
	wasAdmin := a.Role == RoleAdmin && !a.Disabled
	if ch.Name != nil {
		n := strings.TrimSpace(*ch.Name)
		if n == "" || !utf8.ValidString(n) || len(n) > 200 {
			return Agent{}, fmt.Errorf("a name of 1-200 characters is required: %w", inbox.ErrInvalid)
		}
		a.Name = n
	}
	if ch.Role != nil {
		if *ch.Role != RoleAdmin && *ch.Role != RoleAgent {
			return Agent{}, fmt.Errorf("role %q must be admin or agent: %w", *ch.Role, inbox.ErrInvalid)
		}
		a.Role = *ch.Role
	}
	if ch.Disabled != nil {
		a.Disabled = *ch.Disabled
	}
	if ch.TeamIDs != nil {
		teams, err := s.store.ListTeams(ctx)
		if err != nil {
			return Agent{}, err
		}
		ids := []string{}
		for _, t := range *ch.TeamIDs {
			if !slices.ContainsFunc(teams, func(x Team) bool { return x.ID == t }) {
				return Agent{}, fmt.Errorf("team %s: %w", t, inbox.ErrNotFound)
			}
			if !slices.Contains(ids, t) {
				ids = append(ids, t)
			}
		}
		a.TeamIDs = ids
	}
	if ch.Locale != nil {
		a.Locale = orDefault(*ch.Locale, "en")
	}
	if ch.Timezone != nil {
		tz := orDefault(*ch.Timezone, "Asia/Jakarta")
		if _, err := time.LoadLocation(tz); err != nil {
			return Agent{}, fmt.Errorf("timezone %q is not an IANA zone name: %w", tz, inbox.ErrInvalid)
		}
		a.Timezone = tz
	}
	if ch.Extension != nil {
		a.Extension = strings.TrimSpace(*ch.Extension)
	}
	if wasAdmin && (a.Role != RoleAdmin || a.Disabled) {
		if err := s.keepAnAdmin(ctx, a.ID); err != nil {
			return Agent{}, err
		}
	}
	a.UpdatedAt = s.now()
	if err := s.store.UpdateAgent(ctx, a); err != nil {
		return Agent{}, fmt.Errorf("update agent %s: %w", id, err)
	}
	if a.Disabled {
		if err := s.store.DeleteAgentSessions(ctx, a.ID); err != nil {
			return Agent{}, fmt.Errorf("sign out disabled agent %s: %w", a.ID, err)
		}
	}
	s.log.Info("agent updated", "agent", a.ID, "role", a.Role, "disabled", a.Disabled)
	return a, nil
}

// keepAnAdmin fails unless an enabled admin other than except exists.
func (s *Service) keepAnAdmin(ctx context.Context, except string) error {
	list, err := s.store.ListAgents(ctx)
	if err != nil {
		return err
	}
	for _, o := range list {
		if o.ID != except && o.Role == RoleAdmin && !o.Disabled {
			return nil
		}
	}
	return ErrLastAdmin
}

// SetupGuard serialises first-run setup on this instance, so two browsers submitting the setup
// page at once cannot both create an admin.
type SetupGuard struct{ mu sync.Mutex }

// ErrSetupDone: an admin exists already; the first-run page is closed.
var ErrSetupDone = errors.New("setup is already done")

// SetupFirstAdmin creates the first admin, but only while no admin exists.
func (s *Service) SetupFirstAdmin(ctx context.Context, g *SetupGuard, n NewAgent) (Agent, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	need, err := s.NeedsSetup(ctx)
	if err != nil {
		return Agent{}, err
	}
	if !need {
		return Agent{}, ErrSetupDone
	}
	n.Role = RoleAdmin
	return s.Create(ctx, n)
}
