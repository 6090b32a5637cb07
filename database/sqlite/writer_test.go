package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/serambi/serambi/database/storetest"
	"github.com/serambi/serambi/inbox"
)

// holdWriter blocks the writer inside a request until the returned release is called, so that
// requests made meanwhile queue up and are all taken by the next group commit.
func holdWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	entered, gate := make(chan struct{}), make(chan struct{})
	go func() {
		_ = s.write(context.Background(), func(*writer) error {
			close(entered)
			<-gate
			return nil
		})
	}()
	<-entered
	return func() { close(gate) }
}

func TestGroupCommit(t *testing.T) {
	t.Run("a failing request in a group undoes only itself", func(t *testing.T) {
		s := openTemp(t)
		ctx := t.Context()
		taken := inbox.Customer{ID: inbox.NewID(), Name: "first", CreatedAt: storetest.Base(), UpdatedAt: storetest.Base(),
			Identities: []inbox.Identity{{Kind: inbox.KindEmail, Value: "taken@example.id", Verified: true}}}
		if err := s.CreateCustomer(ctx, taken); err != nil {
			t.Fatal(err)
		}
		before := s.WriterStats()
		release := holdWriter(t, s)
		const n = 20
		errs := make([]error, n)
		custs := make([]inbox.Customer, n)
		var queued, wg sync.WaitGroup
		for i := range n {
			custs[i] = inbox.Customer{ID: inbox.NewID(), Name: fmt.Sprint("c", i), CreatedAt: storetest.Base(), UpdatedAt: storetest.Base(),
				Identities: []inbox.Identity{{Kind: inbox.KindEmail, Value: fmt.Sprintf("c%d@example.id", i), Verified: true}}}
			if i%2 == 1 {
				// Odd ones write their own identity and then fail on the taken one: the
				// savepoint must take the first write back too.
				custs[i].Identities = append(custs[i].Identities, inbox.Identity{Kind: inbox.KindEmail, Value: "taken@example.id", Verified: true})
			}
			queued.Add(1)
			wg.Go(func() {
				queued.Done()
				errs[i] = s.CreateCustomer(ctx, custs[i])
			})
		}
		queued.Wait()
		for len(s.reqs) < n {
			// Wait until every request sits in the queue; the writer is held.
			runtime.Gosched()
		}
		release()
		wg.Wait()
		for i := range n {
			_, err := s.CustomerByID(ctx, custs[i].ID)
			owner, lerr := s.CustomerIDByIdentity(ctx, inbox.KindEmail, fmt.Sprintf("c%d@example.id", i))
			if i%2 == 0 {
				if errs[i] != nil || err != nil || lerr != nil || owner != custs[i].ID {
					t.Errorf("customer %d: create %v, load %v, claim %v by %q", i, errs[i], err, lerr, owner)
				}
				continue
			}
			var takenErr *inbox.IdentityTakenError
			if !errors.As(errs[i], &takenErr) {
				t.Errorf("customer %d: err = %v, want an IdentityTakenError", i, errs[i])
			}
			if !errors.Is(err, inbox.ErrNotFound) || !errors.Is(lerr, inbox.ErrNotFound) {
				t.Errorf("refused customer %d left data behind: load %v, claim %v", i, err, lerr)
			}
		}
		after := s.WriterStats()
		if got := after.Commits - before.Commits; got != 2 {
			t.Errorf("%d commits for the held request and %d queued ones, want 2 (one group)", got, n)
		}
	})

	t.Run("a panicking request fails alone", func(t *testing.T) {
		s := openTemp(t)
		err := s.write(t.Context(), func(w *writer) error {
			if _, err := w.exec(`INSERT INTO connector_state (key, state) VALUES ('k', x'00')`); err != nil {
				return err
			}
			panic("boom")
		})
		if err == nil {
			t.Fatal("a panicking request reported success")
		}
		if _, err := s.GetState(t.Context(), "k"); !errors.Is(err, inbox.ErrNotFound) {
			t.Errorf("the panicking request's write survived: %v", err)
		}
		if err := s.PutState(t.Context(), "k", []byte("ok")); err != nil {
			t.Errorf("the writer did not survive a panic: %v", err)
		}
	})

	t.Run("a cancelled request is not run", func(t *testing.T) {
		s := openTemp(t)
		release := holdWriter(t, s)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.PutState(ctx, "k", []byte("x")) }()
		for len(s.reqs) < 1 {
			runtime.Gosched()
		}
		cancel()
		release()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		// Whatever the caller saw, the writer checks the context before running a request.
		if err := s.PutState(t.Context(), "other", []byte("y")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetState(t.Context(), "k"); !errors.Is(err, inbox.ErrNotFound) {
			t.Errorf("a request cancelled while queued was run: %v", err)
		}
	})

	t.Run("calls after Close fail with ErrClosed", func(t *testing.T) {
		s, err := Open(t.Context(), filepath.Join(t.TempDir(), "x.db"), testLog())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.PutState(t.Context(), "k", nil); !errors.Is(err, ErrClosed) {
			t.Errorf("err = %v, want ErrClosed", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

func TestOpen(t *testing.T) {
	t.Run("data and schema survive a reopen and migrations run once", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nested", "dir", "serambi.db")
		s, err := Open(t.Context(), path, testLog())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutState(t.Context(), "k", []byte("kept")); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(t.Context(), path, testLog())
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer s.Close()
		got, err := s.GetState(t.Context(), "k")
		if err != nil || string(got) != "kept" {
			t.Errorf("after reopen: %q, %v", got, err)
		}
		ms, err := loadMigrations()
		if err != nil {
			t.Fatal(err)
		}
		var n, top int
		if err := queryOne(s.reader(t.Context()), `SELECT COUNT(*), MAX(version) FROM schema_migrations`, nil, &n, &top); err != nil {
			t.Fatal(err)
		}
		if n != len(ms) || top != ms[len(ms)-1].version {
			t.Errorf("schema_migrations has %d rows up to %d, want %d up to %d", n, top, len(ms), ms[len(ms)-1].version)
		}
	})

	t.Run("a database from a newer build is refused", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "serambi.db")
		s, err := Open(t.Context(), path, testLog())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.write(t.Context(), func(w *writer) error {
			_, err := w.exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if s, err := Open(t.Context(), path, testLog()); err == nil {
			s.Close()
			t.Fatal("opened a database with a newer schema")
		}
	})

	t.Run("a path SQLite would misread is refused", func(t *testing.T) {
		if _, err := Open(t.Context(), filepath.Join(t.TempDir(), "a?mode=ro"), testLog()); !errors.Is(err, inbox.ErrInvalid) {
			t.Errorf("err = %v, want inbox.ErrInvalid", err)
		}
	})
}

func TestBlobsStoreEachContentOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blobs")
	b, err := NewBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, _, err := b.Put(t.Context(), strings.NewReader("same bytes"), 100); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.Put(t.Context(), strings.NewReader("too long for the limit"), 5); !errors.Is(err, inbox.ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	var files []string
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Errorf("files under the blob directory: %v, want one blob and no leftovers", files)
	}
}
