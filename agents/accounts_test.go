package agents_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/inbox"
)

var cheap = agents.Argon2idParams{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

func accountsService(t *testing.T) *agents.Service {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "serambi.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := agents.DefaultConfig()
	cfg.Argon2id = cheap
	s, err := agents.New(st, cfg, time.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func create(t *testing.T, s *agents.Service, email string, role agents.Role) agents.Agent {
	t.Helper()
	a, err := s.Create(context.Background(), agents.NewAgent{Email: email, Name: strings.Split(email, "@")[0], Password: "correct horse battery", Role: role})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestUpdateKeepsAnAdmin(t *testing.T) {
	s := accountsService(t)
	ctx := context.Background()
	dewi := create(t, s, "dewi@toko.id", agents.RoleAdmin)
	budi := create(t, s, "budi@toko.id", agents.RoleAgent)
	agentRole, adminRole, yes := agents.RoleAgent, agents.RoleAdmin, true

	if _, err := s.Update(ctx, dewi.ID, agents.AgentChange{Role: &agentRole}); !errors.Is(err, agents.ErrLastAdmin) {
		t.Fatalf("demoting the only admin: %v, want ErrLastAdmin", err)
	}
	if _, err := s.Update(ctx, dewi.ID, agents.AgentChange{Disabled: &yes}); !errors.Is(err, agents.ErrLastAdmin) {
		t.Fatalf("disabling the only admin: %v, want ErrLastAdmin", err)
	}
	if _, err := s.Update(ctx, budi.ID, agents.AgentChange{Role: &adminRole}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, dewi.ID, agents.AgentChange{Role: &agentRole}); err != nil {
		t.Fatalf("demoting one of two admins: %v", err)
	}
	bad := "Mars/Olympus"
	if _, err := s.Update(ctx, budi.ID, agents.AgentChange{Timezone: &bad}); !errors.Is(err, inbox.ErrInvalid) {
		t.Fatalf("an unknown zone: %v, want ErrInvalid", err)
	}
	ghost := []string{"no-such-team"}
	if _, err := s.Update(ctx, budi.ID, agents.AgentChange{TeamIDs: &ghost}); !errors.Is(err, inbox.ErrNotFound) {
		t.Fatalf("an unknown team: %v, want ErrNotFound", err)
	}
}

func TestDisablingSignsOut(t *testing.T) {
	s := accountsService(t)
	ctx := context.Background()
	create(t, s, "dewi@toko.id", agents.RoleAdmin)
	budi := create(t, s, "budi@toko.id", agents.RoleAgent)
	_, _, token, err := s.Login(ctx, "budi@toko.id", "correct horse battery", "10.0.0.1", "test")
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	if _, err := s.Update(ctx, budi.ID, agents.AgentChange{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Authenticate(ctx, token); !errors.Is(err, agents.ErrNoSession) {
		t.Fatalf("a disabled agent's session still works: %v", err)
	}
}

func TestTeams(t *testing.T) {
	s := accountsService(t)
	ctx := context.Background()
	budi := create(t, s, "budi@toko.id", agents.RoleAgent)
	billing, err := s.CreateTeam(ctx, "  Billing ")
	if err != nil {
		t.Fatal(err)
	}
	if billing.Name != "Billing" {
		t.Errorf("team name %q is not trimmed", billing.Name)
	}
	if _, err := s.CreateTeam(ctx, "Billing"); !errors.Is(err, inbox.ErrConflict) {
		t.Fatalf("a second team named Billing: %v, want ErrConflict", err)
	}
	if _, err := s.CreateTeam(ctx, " "); !errors.Is(err, inbox.ErrInvalid) {
		t.Fatalf("a team without a name: %v, want ErrInvalid", err)
	}
	teams := []string{billing.ID}
	if _, err := s.Update(ctx, budi.ID, agents.AgentChange{TeamIDs: &teams}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTeam(ctx, billing.ID); err != nil {
		t.Fatal(err)
	}
	got, err := s.Agent(ctx, budi.ID)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(got.TeamIDs, billing.ID) {
		t.Fatal("a deleted team is still on its member")
	}
	if list, _ := s.Teams(ctx); len(list) != 0 {
		t.Fatalf("teams after delete: %+v", list)
	}
}

func TestSessionsListAndRevoke(t *testing.T) {
	s := accountsService(t)
	ctx := context.Background()
	budi := create(t, s, "budi@toko.id", agents.RoleAgent)
	dewi := create(t, s, "dewi@toko.id", agents.RoleAdmin)
	_, laptop, laptopToken, err := s.Login(ctx, "budi@toko.id", "correct horse battery", "10.0.0.1", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	_, _, phoneToken, err := s.Login(ctx, "budi@toko.id", "correct horse battery", "10.0.0.2", "phone")
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.Sessions(ctx, budi.ID)
	if err != nil || len(list) != 2 {
		t.Fatalf("sessions: %d, %v; want 2", len(list), err)
	}
	pub := agents.PublicSessionID(laptop)
	if pub == laptop.ID || len(pub) != 24 {
		t.Fatalf("public id %q must differ from the stored id and be 24 hex digits", pub)
	}
	// Dewi cannot end Budi's session by its public id.
	if _, err := s.RevokeSession(ctx, dewi.ID, pub); !errors.Is(err, inbox.ErrNotFound) {
		t.Fatalf("revoking someone else's session: %v, want ErrNotFound", err)
	}
	if got, err := s.RevokeSession(ctx, budi.ID, pub); err != nil || got.ID != laptop.ID {
		t.Fatalf("revoke: %v, %v", got.ID, err)
	}
	if _, _, err := s.Authenticate(ctx, laptopToken); !errors.Is(err, agents.ErrNoSession) {
		t.Fatalf("revoked session: %v", err)
	}
	if _, _, err := s.Authenticate(ctx, phoneToken); err != nil {
		t.Fatalf("the other session was ended too: %v", err)
	}
}

func TestSetupFirstAdminOnlyOnce(t *testing.T) {
	s := accountsService(t)
	ctx := context.Background()
	var g agents.SetupGuard
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.SetupFirstAdmin(ctx, &g, agents.NewAgent{Email: "admin" + string(rune('a'+i)) + "@toko.id", Name: "Admin", Password: "correct horse battery", Role: agents.RoleAgent})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, agents.ErrSetupDone):
			t.Errorf("setup failed: %v", err)
		}
	}
	list, _ := s.Agents(ctx)
	if ok != 1 || len(list) != 1 || list[0].Role != agents.RoleAdmin {
		t.Fatalf("%d setups succeeded, %d agents exist (%+v); want exactly one admin", ok, len(list), list)
	}
}

func TestAdminCreateCommand(t *testing.T) {
	s := accountsService(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		args    []string
		stdin   string
		wantErr string
	}{
		{"missing flags say which", []string{"--email", "a@toko.id"}, "", "missing --name, --password"},
		{"stray arguments", []string{"--email", "a@toko.id", "--name", "A", "--password", "correct horse battery", "extra"}, "", "unexpected arguments"},
		{"short password", []string{"--email", "a@toko.id", "--name", "A", "--password", "short"}, "", "10 to 1024"},
		{"password from stdin", []string{"--email", "Admin@Toko.id", "--name", "Admin", "--password", "-"}, "correct horse battery\n", ""},
		{"the same email twice", []string{"--email", "admin@toko.id", "--name", "Admin", "--password", "correct horse battery"}, "", "admin@toko.id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := agents.AdminCreateCommand(ctx, s, tt.args, strings.NewReader(tt.stdin), &out)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(out.String(), "admin Admin <admin@toko.id> created") {
					t.Fatalf("output %q", out.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if _, _, _, err := s.Login(ctx, "admin@toko.id", "correct horse battery", "10.0.0.1", "cli"); err != nil {
		t.Fatalf("the admin from stdin cannot log in: %v", err)
	}
}

func TestFindMentions(t *testing.T) {
	list := []agents.Agent{{ID: "d", Email: "dewi@toko.id"}, {ID: "b", Email: "budi.s@toko.id"}, {ID: "x", Email: "gone@toko.id", Disabled: true}}
	tests := []struct {
		text string
		want []string
	}{
		{"@dewi tolong cek", []string{"d"}},
		{"cc @budi.s and @dewi, @dewi again", []string{"b", "d"}},
		{"ask @Dewi.", []string{"d"}},
		{"mail budi.s@toko.id about it", nil},
		{"@gone is disabled, @nobody exists", nil},
		{"(@dewi)", []string{"d"}},
	}
	for _, tt := range tests {
		if got := agents.FindMentions(tt.text, list); !slices.Equal(got, tt.want) {
			t.Errorf("FindMentions(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

func TestCannedResponses(t *testing.T) {
	vars := agents.CannedVars(inbox.Customer{Name: "Siti Rahma", Identities: []inbox.Identity{{Kind: inbox.KindEmail, Value: "siti@example.id"}}},
		agents.Agent{Name: "Budi", Email: "budi@toko.id"})
	tests := []struct{ in, want string }{
		{"Halo {{customer.name}}!", "Halo Siti Rahma!"},
		{"Hi {{ customer.first_name }}, {{agent.name}} here", "Hi Siti, Budi here"},
		{"We wrote to {{customer.email}}", "We wrote to siti@example.id"},
		{"{{customer.phone}} stays when unknown", "{{customer.phone}} stays when unknown"},
		{"{{order.total}} is not a placeholder we know", "{{order.total}} is not a placeholder we know"},
	}
	for _, tt := range tests {
		if got := agents.ExpandCanned(tt.in, vars); got != tt.want {
			t.Errorf("ExpandCanned(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, c := range []struct {
		c  agents.CannedResponse
		ok bool
	}{
		{agents.CannedResponse{Shortcut: " Thanks ", Title: "Thanks", Text: "Terima kasih!"}, true},
		{agents.CannedResponse{Shortcut: "with space", Title: "x", Text: "x"}, false},
		{agents.CannedResponse{Shortcut: "ok", Title: "", Text: "x"}, false},
		{agents.CannedResponse{Shortcut: "ok", Title: "x", Text: "  "}, false},
	} {
		got, err := agents.ValidateCanned(c.c)
		if (err == nil) != c.ok {
			t.Errorf("ValidateCanned(%+v) = %v, want ok %v", c.c, err, c.ok)
		}
		if err == nil && got.Shortcut != "thanks" {
			t.Errorf("shortcut %q is not tidied", got.Shortcut)
		}
	}
}
