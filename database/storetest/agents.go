package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/inbox"
)

// RunAgents checks an agents.Store. open returns a fresh, empty store.
func RunAgents(t *testing.T, open func(t *testing.T) agents.Store) {
	norm := func(k agents.APIKey) agents.APIKey {
		k.CreatedAt, k.LastUsed = utc(k.CreatedAt), utc(k.LastUsed)
		return k
	}
	key := func(name, hash string, at time.Time) agents.APIKey {
		return agents.APIKey{ID: inbox.NewID(), Name: name, Hash: hash, CreatedAt: at}
	}

	t.Run("an API key is found by its hash, listed, and revoked", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		a := key("shop", "aa11", Base())
		b := key("crm", "bb22", Base().Add(time.Second))
		must(t, s.CreateAPIKey(ctx, a), "create a")
		must(t, s.CreateAPIKey(ctx, b), "create b")
		got, err := s.APIKeyByHash(ctx, "aa11")
		must(t, err, "by hash")
		same(t, "key", norm(got), norm(a))
		_, err = s.APIKeyByHash(ctx, "cc33")
		notFound(t, err, "APIKeyByHash")

		list, err := s.ListAPIKeys(ctx)
		must(t, err, "list")
		same(t, "listed keys", sorted(ids(list, func(k agents.APIKey) string { return k.ID })), sorted([]string{a.ID, b.ID}))
		for _, k := range list {
			if k.Hash == "" {
				t.Errorf("listed key %s has no hash", k.ID)
			}
		}

		must(t, s.RevokeAPIKey(ctx, a.ID), "revoke")
		got, err = s.APIKeyByHash(ctx, "aa11")
		must(t, err, "by hash after revoke")
		if !got.Revoked {
			t.Errorf("revoked key reads back as not revoked")
		}
		other, err := s.APIKeyByHash(ctx, "bb22")
		must(t, err, "other key")
		if other.Revoked {
			t.Errorf("revoking one key revoked another")
		}
		notFound(t, s.RevokeAPIKey(ctx, inbox.NewID()), "RevokeAPIKey of an unknown key")
	})

	t.Run("two keys cannot share a hash", func(t *testing.T) {
		s := open(t)
		must(t, s.CreateAPIKey(t.Context(), key("one", "same", Base())), "create")
		err := s.CreateAPIKey(t.Context(), key("two", "same", Base()))
		if err == nil {
			t.Fatalf("a second key with the same hash was stored")
		}
		if !errors.Is(err, inbox.ErrConflict) {
			t.Errorf("err = %v, want inbox.ErrConflict", err)
		}
	})

	t.Run("accounts", func(t *testing.T) { runAccounts(t, open) })
	t.Run("sessions", func(t *testing.T) { runSessions(t, open) })
	t.Run("teams", func(t *testing.T) { runTeams(t, open) })
}

func conflict(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, inbox.ErrConflict) {
		t.Errorf("%s: err = %v, want inbox.ErrConflict", what, err)
	}
}

func normAgent(a agents.Agent) agents.Agent {
	if a.TeamIDs == nil {
		a.TeamIDs = []string{}
	}
	a.CreatedAt, a.UpdatedAt = utc(a.CreatedAt), utc(a.UpdatedAt)
	return a
}

func newAgent(name, email string, role agents.Role) agents.Agent {
	return agents.Agent{ID: inbox.NewID(), Email: email, Name: name, PasswordHash: "$argon2id$v=19$m=65536,t=1,p=2$c2FsdA$aGFzaA",
		Role: role, TeamIDs: []string{}, Locale: "id", Timezone: "Asia/Jakarta", CreatedAt: Base(), UpdatedAt: Base()}
}

func runAccounts(t *testing.T, open func(t *testing.T) agents.Store) {
	t.Run("an agent reads back by id and by email", func(t *testing.T) {
		s := open(t)
		a := newAgent("Wati", "wati@toko.id", agents.RoleAdmin)
		a.TeamIDs, a.Extension = []string{"team-1", "team-2"}, "201"
		must(t, s.CreateAgent(t.Context(), a), "create")
		got, err := s.AgentByID(t.Context(), a.ID)
		must(t, err, "by id")
		same(t, "agent by id", normAgent(got), normAgent(a))
		got, err = s.AgentByEmail(t.Context(), "wati@toko.id")
		must(t, err, "by email")
		same(t, "agent by email", normAgent(got), normAgent(a))
		_, err = s.AgentByID(t.Context(), inbox.NewID())
		notFound(t, err, "AgentByID")
		_, err = s.AgentByEmail(t.Context(), "nobody@toko.id")
		notFound(t, err, "AgentByEmail")
	})

	t.Run("a taken email is a conflict, on create and on update", func(t *testing.T) {
		s := open(t)
		a := newAgent("A", "a@toko.id", agents.RoleAgent)
		b := newAgent("B", "b@toko.id", agents.RoleAgent)
		must(t, s.CreateAgent(t.Context(), a), "create a")
		must(t, s.CreateAgent(t.Context(), b), "create b")
		conflict(t, s.CreateAgent(t.Context(), newAgent("A2", "a@toko.id", agents.RoleAgent)), "CreateAgent")
		b.Email = "a@toko.id"
		conflict(t, s.UpdateAgent(t.Context(), b), "UpdateAgent")
		got, err := s.AgentByEmail(t.Context(), "b@toko.id")
		must(t, err, "b unchanged")
		if got.ID != b.ID {
			t.Errorf("b@toko.id is %s, want %s", got.ID, b.ID)
		}
	})

	t.Run("UpdateAgent replaces the stored agent", func(t *testing.T) {
		s := open(t)
		a := newAgent("Old", "old@toko.id", agents.RoleAgent)
		must(t, s.CreateAgent(t.Context(), a), "create")
		a.Name, a.Email, a.PasswordHash, a.Role, a.TeamIDs, a.Disabled = "New", "new@toko.id", "$argon2id$new", agents.RoleAdmin, []string{"team-9"}, true
		a.Locale, a.Timezone, a.Extension, a.UpdatedAt = "en", "Asia/Makassar", "305", Base().Add(time.Hour)
		must(t, s.UpdateAgent(t.Context(), a), "update")
		got, err := s.AgentByID(t.Context(), a.ID)
		must(t, err, "reload")
		same(t, "updated agent", normAgent(got), normAgent(a))
		_, err = s.AgentByEmail(t.Context(), "old@toko.id")
		notFound(t, err, "the old email")
		notFound(t, s.UpdateAgent(t.Context(), newAgent("X", "x@toko.id", agents.RoleAgent)), "UpdateAgent of an unknown agent")
	})

	t.Run("agents list by name and count by role, disabled ones included", func(t *testing.T) {
		s := open(t)
		zed := newAgent("Zed", "z@toko.id", agents.RoleAdmin)
		zed.Disabled = true
		for _, a := range []agents.Agent{zed, newAgent("Ana", "ana@toko.id", agents.RoleAgent), newAgent("Mia", "m@toko.id", agents.RoleAdmin)} {
			must(t, s.CreateAgent(t.Context(), a), "create")
		}
		list, err := s.ListAgents(t.Context())
		must(t, err, "list")
		same(t, "names", ids(list, func(a agents.Agent) string { return a.Name }), []string{"Ana", "Mia", "Zed"})
		for role, want := range map[agents.Role]int{agents.RoleAdmin: 2, agents.RoleAgent: 1} {
			n, err := s.CountAgents(t.Context(), role)
			must(t, err, "count")
			if n != want {
				t.Errorf("CountAgents(%s) = %d, want %d", role, n, want)
			}
		}
	})
}

func runSessions(t *testing.T, open func(t *testing.T) agents.Store) {
	sess := func(agentID, id string, at time.Time) agents.Session {
		return agents.Session{ID: id, AgentID: agentID, CSRFToken: "csrf-" + id, UserAgent: "Firefox", IP: "10.0.0.1",
			CreatedAt: at, LastSeenAt: at, ExpiresAt: at.Add(14 * 24 * time.Hour)}
	}
	norm := func(x agents.Session) agents.Session {
		x.CreatedAt, x.LastSeenAt, x.ExpiresAt = utc(x.CreatedAt), utc(x.LastSeenAt), utc(x.ExpiresAt)
		return x
	}

	t.Run("a session reads back, is touched, listed newest first and deleted", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		older, newer, other := sess("agent-1", "h1", Base()), sess("agent-1", "h2", Base().Add(time.Hour)), sess("agent-2", "h3", Base())
		for _, x := range []agents.Session{older, newer, other} {
			must(t, s.CreateSession(ctx, x), "create")
		}
		got, err := s.SessionByID(ctx, "h1")
		must(t, err, "by id")
		same(t, "session", norm(got), norm(older))
		_, err = s.SessionByID(ctx, "nope")
		notFound(t, err, "SessionByID")

		seen, expires := Base().Add(2*time.Hour), Base().Add(30*24*time.Hour)
		must(t, s.TouchSession(ctx, "h1", seen, expires), "touch")
		got, err = s.SessionByID(ctx, "h1")
		must(t, err, "reload")
		if !got.LastSeenAt.Equal(seen) || !got.ExpiresAt.Equal(expires) || !got.CreatedAt.Equal(Base()) {
			t.Errorf("touched session = seen %v expires %v created %v", got.LastSeenAt, got.ExpiresAt, got.CreatedAt)
		}
		notFound(t, s.TouchSession(ctx, "nope", seen, expires), "TouchSession of an unknown session")

		list, err := s.ListSessions(ctx, "agent-1")
		must(t, err, "list")
		same(t, "agent-1 sessions", ids(list, func(x agents.Session) string { return x.ID }), []string{"h2", "h1"})

		must(t, s.DeleteSession(ctx, "h2"), "delete")
		_, err = s.SessionByID(ctx, "h2")
		notFound(t, err, "a deleted session")
		if err := s.DeleteSession(ctx, "h2"); err != nil && !errors.Is(err, inbox.ErrNotFound) {
			t.Errorf("deleting a deleted session: %v", err)
		}
	})

	t.Run("DeleteAgentSessions signs out one agent everywhere", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		for _, x := range []agents.Session{sess("agent-1", "a", Base()), sess("agent-1", "b", Base()), sess("agent-2", "c", Base())} {
			must(t, s.CreateSession(ctx, x), "create")
		}
		must(t, s.DeleteAgentSessions(ctx, "agent-1"), "delete all")
		list, err := s.ListSessions(ctx, "agent-1")
		must(t, err, "list")
		if len(list) != 0 {
			t.Errorf("agent-1 still has %d sessions", len(list))
		}
		if _, err := s.SessionByID(ctx, "c"); err != nil {
			t.Errorf("agent-2's session is gone: %v", err)
		}
	})
}

func runTeams(t *testing.T, open func(t *testing.T) agents.Store) {
	t.Run("teams list by name, names are unique, and delete", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		sales := agents.Team{ID: inbox.NewID(), Name: "Sales", CreatedAt: Base()}
		billing := agents.Team{ID: inbox.NewID(), Name: "Billing", CreatedAt: Base()}
		must(t, s.CreateTeam(ctx, sales), "create")
		must(t, s.CreateTeam(ctx, billing), "create")
		conflict(t, s.CreateTeam(ctx, agents.Team{ID: inbox.NewID(), Name: "Sales", CreatedAt: Base()}), "CreateTeam with a taken name")
		list, err := s.ListTeams(ctx)
		must(t, err, "list")
		for i := range list {
			list[i].CreatedAt = utc(list[i].CreatedAt)
		}
		same(t, "teams", list, []agents.Team{billing, sales})
		must(t, s.DeleteTeam(ctx, sales.ID), "delete")
		notFound(t, s.DeleteTeam(ctx, sales.ID), "DeleteTeam of a deleted team")
		list, err = s.ListTeams(ctx)
		must(t, err, "list")
		if len(list) != 1 || list[0].ID != billing.ID {
			t.Errorf("teams after delete = %+v", list)
		}
	})
}

// RunCanned checks an agents.CannedStore. open returns a fresh, empty store.
func RunCanned(t *testing.T, open func(t *testing.T) agents.CannedStore) {
	t.Run("canned responses list by shortcut, shortcuts are unique, update and delete", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		c := func(shortcut string) agents.CannedResponse {
			return agents.CannedResponse{ID: inbox.NewID(), Shortcut: shortcut, Title: "T " + shortcut,
				Text: "Halo {{customer.name}}", CreatedBy: "agent-1", CreatedAt: Base(), UpdatedAt: Base()}
		}
		norm := func(list []agents.CannedResponse) []agents.CannedResponse {
			for i := range list {
				list[i].CreatedAt, list[i].UpdatedAt = utc(list[i].CreatedAt), utc(list[i].UpdatedAt)
			}
			return list
		}
		ship, hello := c("ship"), c("hello")
		must(t, s.CreateCanned(ctx, ship), "create")
		must(t, s.CreateCanned(ctx, hello), "create")
		conflict(t, s.CreateCanned(ctx, c("ship")), "CreateCanned with a taken shortcut")
		list, err := s.ListCanned(ctx)
		must(t, err, "list")
		same(t, "canned", norm(list), []agents.CannedResponse{hello, ship})

		ship.Shortcut, ship.Title, ship.Text, ship.UpdatedAt = "shipping", "Shipping", "Dikirim hari ini", Base().Add(time.Hour)
		must(t, s.UpdateCanned(ctx, ship), "update")
		hello.Shortcut = "shipping"
		conflict(t, s.UpdateCanned(ctx, hello), "UpdateCanned to a taken shortcut")
		list, err = s.ListCanned(ctx)
		must(t, err, "list")
		same(t, "canned after update", norm(list), []agents.CannedResponse{withShortcut(hello, "hello"), ship})

		must(t, s.DeleteCanned(ctx, ship.ID), "delete")
		notFound(t, s.DeleteCanned(ctx, ship.ID), "DeleteCanned of a deleted response")
		notFound(t, s.UpdateCanned(ctx, ship), "UpdateCanned of a deleted response")
	})
}

func withShortcut(c agents.CannedResponse, shortcut string) agents.CannedResponse {
	c.Shortcut = shortcut
	return c
}
