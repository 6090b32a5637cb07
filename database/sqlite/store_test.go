package sqlite

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/connectors"
	"github.com/serambi/serambi/database/storetest"
	"github.com/serambi/serambi/inbox"
)

func testLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openTemp opens a fresh store on a temp file, closed when the test ends.
func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "data", "serambi.db"), testLog())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestInboxStore(t *testing.T) {
	storetest.RunInbox(t, func(t *testing.T) inbox.Store { return openTemp(t) })
}

func TestInboxService(t *testing.T) {
	storetest.RunInboxService(t, func(t *testing.T) inbox.Store { return openTemp(t) })
}

func TestCustomerSearch(t *testing.T) {
	storetest.RunCustomerSearch(t, func(t *testing.T) inbox.Store { return openTemp(t) })
}

func TestBlobs(t *testing.T) {
	storetest.RunBlobs(t, func(t *testing.T) inbox.Blobs {
		b, err := NewBlobs(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatalf("blobs: %v", err)
		}
		return b
	})
}

func TestAgentsStore(t *testing.T) {
	storetest.RunAgents(t, func(t *testing.T) agents.Store { return openTemp(t) })
}

func TestStateStore(t *testing.T) {
	storetest.RunState(t, func(t *testing.T) connectors.StateStore { return openTemp(t) })
}

func TestCannedStore(t *testing.T) {
	storetest.RunCanned(t, func(t *testing.T) agents.CannedStore { return openTemp(t) })
}
