package agents

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/serambi/serambi/inbox"
)

// CreateTeam adds a team; names are unique (the store answers inbox.ErrConflict otherwise).
func (s *Service) CreateTeam(ctx context.Context, name string) (Team, error) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > 80 {
		return Team{}, fmt.Errorf("a team name of 1-80 characters is required: %w", inbox.ErrInvalid)
	}
	t := Team{ID: inbox.NewID(), Name: name, CreatedAt: s.now()}
	if err := s.store.CreateTeam(ctx, t); err != nil {
		return Team{}, fmt.Errorf("create team %q: %w", name, err)
	}
	s.log.Info("team created", "team", t.ID)
	return t, nil
}

// Teams lists every team, ordered by name.
func (s *Service) Teams(ctx context.Context) ([]Team, error) { return s.store.ListTeams(ctx) }

// DeleteTeam removes a team and takes its members out of it. Conversations assigned to the team
// keep the id and show it as a deleted team; reassigning them is the admin's call.
func (s *Service) DeleteTeam(ctx context.Context, id string) error {
	list, err := s.store.ListAgents(ctx)
	if err != nil {
		return err
	}
	for _, a := range list {
		if i := slices.Index(a.TeamIDs, id); i >= 0 {
			a.TeamIDs = slices.Delete(slices.Clone(a.TeamIDs), i, i+1)
			a.UpdatedAt = s.now()
			if err := s.store.UpdateAgent(ctx, a); err != nil {
				return fmt.Errorf("remove agent %s from team %s: %w", a.ID, id, err)
			}
		}
	}
	if err := s.store.DeleteTeam(ctx, id); err != nil {
		return fmt.Errorf("delete team %s: %w", id, err)
	}
	s.log.Info("team deleted", "team", id)
	return nil
}
