package instance_test

import (
	"context"
	"testing"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/notifications"
)

// Through the REST API as through the console: a note naming @dewi and an assignment to Dewi
// each leave her one notification, on both stores.
func TestAPINotifiesMentionsAndAssignments(t *testing.T) {
	for _, backend := range []string{"sqlite", "mongo"} {
		t.Run(backend, func(t *testing.T) {
			e := startEnvWith(t, backend, nil)
			ctx := context.Background()
			dewi, err := e.in.Agents.Create(ctx, agents.NewAgent{Email: "dewi@toko.id", Name: "Dewi", Password: "correct horse battery", Role: agents.RoleAgent})
			if err != nil {
				t.Fatal(err)
			}
			e.ingest("c", "m1", `{"email":"sari@example.id"}`, "paket belum sampai")
			e.must(201, "POST", "/api/v1/conversations/{c.conversation}/messages", `{"note":true,"text":"@dewi tolong cek resi ya"}`)
			e.must(200, "PATCH", "/api/v1/conversations/{c.conversation}", `{"assigneeId":"`+dewi.ID+`"}`)
			e.must(200, "PATCH", "/api/v1/conversations/{c.conversation}", `{"assigneeId":"`+dewi.ID+`"}`) // no change: no second

			store := e.in.Storage().Store.(notifications.Store)
			list, err := store.ListNotifications(ctx, dewi.ID, notifications.Cursor{}, 10)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[notifications.Kind]int{}
			for _, n := range list {
				kinds[n.Kind]++
			}
			if len(list) != 2 || kinds[notifications.KindMention] != 1 || kinds[notifications.KindAssigned] != 1 {
				t.Fatalf("Dewi has %+v; want one mention and one assignment", list)
			}
		})
	}
}
