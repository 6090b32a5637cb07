// Package sqlite is Serambi's embedded store: one SQLite file (modernc.org/sqlite, pure Go, WAL)
// under the data directory, with real indexes and versioned migrations. It implements
// inbox.Store, agents.Store and connectors.StateStore, and passes database/storetest.
//
// Writes go through one connection owned by one goroutine. It takes every write request that is
// queued when it comes round (it never waits to fill a batch), runs each in its own SAVEPOINT
// inside one transaction, so that one failing request (a duplicate key) does not undo the others,
// commits once and then answers each caller: group commit without added latency. Reads use a
// separate pool of read-only connections, which WAL lets run beside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/connectors"
	"github.com/serambi/serambi/inbox"
)

var (
	_ inbox.Store           = (*Store)(nil)
	_ agents.Store          = (*Store)(nil)
	_ connectors.StateStore = (*Store)(nil)
)

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("sqlite store closed")

const (
	// maxBatch bounds one group commit, so that a flood of writes still commits (and answers its
	// callers) regularly.
	maxBatch = 256
	// checkpointEvery is how often the background checkpointer copies the WAL into the database.
	checkpointEvery = 200 * time.Millisecond
	// restartFrames is the WAL length (in pages) from which the writer is asked to start the WAL
	// over, once the background copy is within restartSlack frames (or an eighth) of its end.
	restartFrames = 2000
	restartSlack  = 500
	// restartWait bounds how long the writer waits for readers during a RESTART checkpoint.
	restartWait = 10 * time.Millisecond
	// truncateWALBytes is the WAL size above which the checkpointer asks for a TRUNCATE
	// checkpoint. Normally the WAL is reused from its start after each complete checkpoint and
	// journal_size_limit trims it; a reader that kept a snapshot open for long can make it grow.
	truncateWALBytes = 256 << 20
	busyTimeout      = 10 * time.Second
	// mmapBytes is how much of the file the writer reads through memory mapping.
	mmapBytes = 1 << 30
)

// Store is the SQLite store. It is safe for concurrent use.
type Store struct {
	path string
	log  *slog.Logger

	wdb   *sql.DB
	wconn *sql.Conn
	reqs  chan *writeReq

	rdb    *sql.DB
	rstmts stmtCache

	ckdb *sql.DB

	// Counters for WriterStats.
	commits, writes        atomic.Int64
	busyNanos, commitNanos atomic.Int64

	stop     chan struct{}
	wg       sync.WaitGroup
	closeMu  sync.RWMutex
	closed   bool
	closeErr error
	once     sync.Once
}

type writeReq struct {
	ctx context.Context
	fn  func(w *writer) error
	// alone runs fn between two group commits, outside any transaction, as a checkpoint on the
	// writer connection must.
	alone bool
	done  chan error
}

// Open opens (creating it and its parent directories when missing) the database at path, and
// brings its schema up to date.
func Open(ctx context.Context, path string, log *slog.Logger) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite path %q: must be a file path without '?' or '#': %w", path, inbox.ErrInvalid)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create directory for %s: %w", path, err)
	}
	ms := busyTimeout.Milliseconds()
	// The writer never checkpoints by itself (wal_autocheckpoint=0): a checkpoint inside a
	// commit is what puts a 100 ms step into the write latency. The checkpointer goroutine below
	// does it instead, beside the writer.
	// The writer's page cache stays valid across its own commits (only it writes), so it is the
	// larger one, and it reads through mmap. Readers do not: a reader whose next transaction
	// finds the WAL changed (under steady writes, nearly every one) drops its page cache and its
	// whole mapping, so mmap cost it an munmap and fresh page faults per query. Measured: ingest
	// ~6-10 % faster with readers on plain reads, the 1M-message read path unchanged
	// (docs/BENCHMARKS.md).
	wdsn := fmt.Sprintf("%s?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"+
		"&_pragma=wal_autocheckpoint(0)&_pragma=journal_size_limit(%d)&_pragma=foreign_keys(OFF)&_pragma=cache_size(-65536)"+
		"&_pragma=mmap_size(%d)&_pragma=temp_store(MEMORY)", path, ms, 64<<20, mmapBytes)
	rdsn := fmt.Sprintf("%s?_pragma=busy_timeout(%d)&_pragma=wal_autocheckpoint(0)&_pragma=cache_size(-8000)"+
		"&_pragma=mmap_size(0)&_pragma=temp_store(MEMORY)&_query_only=1", path, ms)
	cdsn := fmt.Sprintf("%s?_pragma=busy_timeout(%d)&_pragma=wal_autocheckpoint(0)", path, ms)

	s := &Store{path: path, log: log, reqs: make(chan *writeReq, 1024), stop: make(chan struct{})}
	var closers []func() error
	fail := func(what string, err error) (*Store, error) {
		for i := len(closers) - 1; i >= 0; i-- {
			_ = closers[i]()
		}
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	var err error
	if s.wdb, err = sql.Open("sqlite", wdsn); err != nil {
		return fail("open", err)
	}
	closers = append(closers, s.wdb.Close)
	s.wdb.SetMaxOpenConns(1)
	if s.wconn, err = s.wdb.Conn(ctx); err != nil {
		return fail("open", err)
	}
	closers = append(closers, s.wconn.Close)
	w := &writer{conn: s.wconn, stmts: map[string]*sql.Stmt{}}
	closers = append(closers, func() error { w.close(); return nil })
	if err := migrate(ctx, w, log); err != nil {
		return fail("migrate", err)
	}

	if s.rdb, err = sql.Open("sqlite", rdsn); err != nil {
		return fail("open for reading", err)
	}
	closers = append(closers, s.rdb.Close)
	// Sized by the cores, not GOMAXPROCS: serambi runs with twice as many Ps as cores
	// (instance.TuneScheduler), and reader connections beyond what the cores can run at once only
	// meet on SQLite's page-cache mutex, which every connection shares.
	readers := max(4, 2*runtime.NumCPU())
	s.rdb.SetMaxOpenConns(readers)
	s.rdb.SetMaxIdleConns(readers)
	s.rstmts = stmtCache{db: s.rdb, m: map[string]*sql.Stmt{}}
	// A first read checks that the read-only connections open (a bad DSN shows here, not later).
	if err := s.rdb.PingContext(ctx); err != nil {
		return fail("open for reading", err)
	}

	if s.ckdb, err = sql.Open("sqlite", cdsn); err != nil {
		return fail("open for checkpoints", err)
	}
	s.ckdb.SetMaxOpenConns(1)

	s.wg.Add(2)
	go s.runWriter(w)
	go s.runCheckpointer()
	return s, nil
}

// Close stops the writer after the writes already queued, checkpoints and closes the file.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.closeMu.Lock()
		s.closed = true
		close(s.stop)
		s.closeMu.Unlock()
		s.wg.Wait()
		var errs []error
		s.rstmts.close()
		errs = append(errs, s.rdb.Close(), s.ckdb.Close())
		// A last full checkpoint leaves a tidy single file behind for backups.
		if _, err := s.wconn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			s.log.Warn("final checkpoint failed", "path", s.path, "err", err)
		}
		errs = append(errs, s.wconn.Close(), s.wdb.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// WriterStats describes the writer's work since Open.
type WriterStats struct {
	// Commits is the number of group commits, Writes the requests they carried: their ratio is
	// the average group size.
	Commits, Writes int64
	// Busy is the time spent running groups, Committing the part of it spent in COMMIT.
	Busy, Committing time.Duration
}

// WriterStats returns the writer's counters, for metrics and benchmarks.
func (s *Store) WriterStats() WriterStats {
	return WriterStats{Commits: s.commits.Load(), Writes: s.writes.Load(),
		Busy: time.Duration(s.busyNanos.Load()), Committing: time.Duration(s.commitNanos.Load())}
}

// write runs fn on the writer inside the current group transaction. fn's changes are undone if it
// returns an error, without touching the other requests of the group.
func (s *Store) write(ctx context.Context, fn func(w *writer) error) error {
	return s.submit(ctx, &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)})
}

func (s *Store) submit(ctx context.Context, r *writeReq) error {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	select {
	case s.reqs <- r:
		s.closeMu.RUnlock()
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return ctx.Err()
	}
	// Once queued, the outcome is awaited even if ctx ends: the writer checks ctx before it runs
	// a request (a cancelled one is answered at once), and callers read the results their request
	// wrote, which must not race with a request still running.
	return <-r.done
}

func (s *Store) runWriter(w *writer) {
	defer s.wg.Done()
	defer w.close()
	batch := make([]*writeReq, 0, maxBatch)
	for {
		var first *writeReq
		select {
		case first = <-s.reqs:
		case <-s.stop:
			// Close holds closeMu while closing stop, so nothing is queued after this drain.
			for {
				select {
				case r := <-s.reqs:
					s.runBatch(w, []*writeReq{r})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.runBatch(w, batch)
	}
}

func (s *Store) runBatch(w *writer, batch []*writeReq) {
	// Requests that must run alone split the batch.
	start := 0
	for i, r := range batch {
		if r.alone {
			s.runGroup(w, batch[start:i])
			r.done <- call(w, r.fn)
			start = i + 1
		}
	}
	s.runGroup(w, batch[start:])
}

func (s *Store) runGroup(w *writer, group []*writeReq) {
	if len(group) == 0 {
		return
	}
	s.commits.Add(1)
	s.writes.Add(int64(len(group)))
	t0 := time.Now()
	defer func() { s.busyNanos.Add(int64(time.Since(t0))) }()
	errs := make([]error, len(group))
	fail := func(err error) {
		for i := range errs {
			errs[i] = err
		}
	}
	if _, err := w.exec("BEGIN IMMEDIATE"); err != nil {
		fail(fmt.Errorf("begin: %w", err))
	} else {
		broken := false
		for i, r := range group {
			if err := r.ctx.Err(); err != nil {
				errs[i] = err
				continue
			}
			if _, err := w.exec("SAVEPOINT op"); err != nil {
				fail(fmt.Errorf("savepoint: %w", err))
				broken = true
				break
			}
			errs[i] = call(w, r.fn)
			if errs[i] != nil {
				if _, err := w.exec("ROLLBACK TO op"); err != nil {
					// The whole transaction is gone (SQLite rolls back on I/O errors): nothing
					// of this group was stored.
					fail(fmt.Errorf("rollback to savepoint after %v: %w", errs[i], err))
					broken = true
					break
				}
			}
			if _, err := w.exec("RELEASE op"); err != nil {
				fail(fmt.Errorf("release savepoint: %w", err))
				broken = true
				break
			}
		}
		if broken {
			_, _ = w.exec("ROLLBACK")
		} else if _, err := s.commit(w); err != nil {
			_, _ = w.exec("ROLLBACK")
			fail(fmt.Errorf("commit: %w", err))
		}
	}
	for i, r := range group {
		r.done <- errs[i]
	}
}

func (s *Store) commit(w *writer) (sql.Result, error) {
	t0 := time.Now()
	defer func() { s.commitNanos.Add(int64(time.Since(t0))) }()
	return w.exec("COMMIT")
}

// call runs fn, turning a panic into an error so that one bad request cannot stop the writer.
func call(w *writer, fn func(w *writer) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sqlite write panicked: %v", p)
		}
	}()
	return fn(w)
}

// runCheckpointer keeps the WAL short without putting checkpoints in the commit path.
//
// A checkpoint inside a commit (SQLite's autocheckpoint, disabled on the writer) is what puts a
// step of tens of milliseconds into the write latency. Instead a PASSIVE checkpoint runs here, on
// its own connection, every checkpointEvery: it copies frames into the database file beside the
// writer and the readers, waiting for neither. That alone would let the WAL grow for ever under a
// steady load, because SQLite starts the WAL over from its beginning only when a write begins with
// the WAL completely copied and no reader inside it, and a writer that never pauses never finds it
// so. So once the background copy has nearly caught up, the writer is asked to run a RESTART
// checkpoint between two group commits: it copies the few frames left, waits (at most
// restartWait) for readers still in the WAL, and the next commit then writes from the WAL's start.
// journal_size_limit trims the file then. A TRUNCATE (which must wait for every reader) is the
// fallback when the WAL has grown large all the same, e.g. behind a long-running read.
func (s *Store) runCheckpointer() {
	defer s.wg.Done()
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		var busy, logFrames, done int
		err := s.ckdb.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &done)
		if err != nil {
			s.log.Warn("wal checkpoint failed", "path", s.path, "err", err)
			continue
		}
		s.log.Debug("wal checkpoint", "path", s.path, "busy", busy, "frames", logFrames, "copied", done)
		mode := ""
		if logFrames >= restartFrames && logFrames-done <= max(restartSlack, logFrames/8) {
			mode = "RESTART"
		}
		if fi, err := os.Stat(s.path + "-wal"); err == nil && fi.Size() > truncateWALBytes {
			mode = "TRUNCATE"
		}
		if mode == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err = s.submit(ctx, &writeReq{ctx: ctx, alone: true, done: make(chan error, 1), fn: func(w *writer) error {
			return w.checkpoint(mode)
		}})
		cancel()
		if err != nil && !errors.Is(err, ErrClosed) {
			s.log.Warn("wal checkpoint on the writer failed", "path", s.path, "mode", mode, "err", err)
		}
	}
}

// checkpoint runs a blocking checkpoint on the writer connection with a short busy timeout: a
// reader holding an old snapshot makes it give up (to be tried again) rather than stall writes.
func (w *writer) checkpoint(mode string) error {
	if _, err := w.exec(fmt.Sprintf("PRAGMA busy_timeout = %d", restartWait.Milliseconds())); err != nil {
		return err
	}
	var busy, logFrames, done int
	err := queryOne(w, "PRAGMA wal_checkpoint("+mode+")", nil, &busy, &logFrames, &done)
	if _, rerr := w.exec(fmt.Sprintf("PRAGMA busy_timeout = %d", busyTimeout.Milliseconds())); err == nil {
		err = rerr
	}
	return err
}

// writer is the one write connection, used only by the writer goroutine. Statements are
// prepared once and kept.
type writer struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

func (w *writer) stmt(q string) (*sql.Stmt, error) {
	if st, ok := w.stmts[q]; ok {
		return st, nil
	}
	st, err := w.conn.PrepareContext(context.Background(), q)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", firstLine(q), err)
	}
	w.stmts[q] = st
	return st, nil
}

// Statements run without the caller's context: cancelling one half-way would spoil the group
// transaction that other callers' writes share. Callers' contexts are checked before their
// request starts.
func (w *writer) exec(q string, args ...any) (sql.Result, error) {
	st, err := w.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(context.Background(), args...)
}

func (w *writer) query(q string, args ...any) (*sql.Rows, error) {
	st, err := w.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(context.Background(), args...)
}

func (w *writer) close() {
	for _, st := range w.stmts {
		st.Close()
	}
	clear(w.stmts)
}

// affected returns how many rows a statement changed.
func affected(r sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

// querier runs a query on the writer (inside its transaction) or on the read pool.
type querier interface {
	query(q string, args ...any) (*sql.Rows, error)
}

// reader runs queries on the read pool with a caller's context.
type reader struct {
	s   *Store
	ctx context.Context
	// caller is the caller's context when ctx is detached from it (lookup): checked once before
	// the query instead of watched during it.
	caller context.Context
}

func (s *Store) reader(ctx context.Context) reader { return reader{s: s, ctx: ctx} }

// lookup is reader for queries that find rows by a unique key. They take microseconds, so the
// caller's cancellation is checked before they start and not watched while they run: watching
// costs the driver and database/sql a goroutine each per query, which on the ingest path was
// more than the lookups themselves.
func (s *Store) lookup(ctx context.Context) reader {
	return reader{s: s, ctx: context.WithoutCancel(ctx), caller: ctx}
}

func (r reader) query(q string, args ...any) (*sql.Rows, error) {
	if r.caller != nil {
		if err := r.caller.Err(); err != nil {
			return nil, err
		}
	}
	st, err := r.s.rstmts.get(r.ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(r.ctx, args...)
}

// stmtCache keeps read statements prepared; database/sql prepares each on a pool connection the
// first time that connection runs it.
type stmtCache struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

// maxCachedStmts bounds the cache: list queries vary with their filter's shape, of which there are
// few, but the bound keeps a surprise from growing it without end.
const maxCachedStmts = 512

func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.RLock()
	st, ok := c.m[q]
	c.mu.RUnlock()
	if ok {
		return st, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[q]; ok {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", firstLine(q), err)
	}
	if len(c.m) >= maxCachedStmts {
		for k, old := range c.m {
			old.Close()
			delete(c.m, k)
			break
		}
	}
	c.m[q] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	clear(c.m)
}

func firstLine(q string) string {
	q = strings.TrimSpace(q)
	if i := strings.IndexByte(q, '\n'); i > 0 {
		q = q[:i]
	}
	if len(q) > 80 {
		q = q[:80]
	}
	return q
}

// queryOne scans the single row of a query into dest; inbox.ErrNotFound when there is none.
func queryOne(q querier, sqlText string, args []any, dest ...any) error {
	rows, err := q.query(sqlText, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return inbox.ErrNotFound
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	return rows.Close()
}

// Times are stored as unix nanoseconds in UTC; 0 is the zero time. Times outside what int64
// nanoseconds hold (years 1678-2262; only a bogus Date header gets there) are clamped.
func ts(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	switch {
	case t.Year() < 1679:
		return math.MinInt64 + 1
	case t.Year() > 2261:
		return math.MaxInt64
	}
	return t.UnixNano()
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func fromTS(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func isConstraint(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// placeholders returns "?, ?, ?" for n arguments.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
