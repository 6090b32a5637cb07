package email

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// maxMessageBytes bounds one fetched mail in memory; the rest of a larger one is cut (its text
// and first attachments still arrive, and the mail itself stays on the server).
const maxMessageBytes = 64 << 20

var errLeaseLost = errors.New("lease on the mailbox lost to another instance")

// Run imports the mailbox and keeps importing until ctx is done: it takes the mailbox's lease
// (another instance holding it leaves this one on standby), connects, imports everything after the
// last imported UID (the look-back window on the first connection), then waits for new mail with
// IDLE (or polls) and imports it. Any failure, and a server outage of any length, ends in a
// reconnect with exponential backoff that resumes where the import stood. It returns nil when ctx
// is done.
func (c *Connector) Run(ctx context.Context) error {
	delay := c.mb.ReconnectMin
	for {
		held, err := c.deps.State.AcquireLease(ctx, c.stateKey("lease"), c.owner, c.now(), c.mb.LeaseTTL)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err != nil:
			c.recordError(fmt.Errorf("take lease: %w", err))
			c.log.Warn("could not take the mailbox lease", "err", err)
		case !held:
			c.setStatus(func(s *Status) { s.Standby = true; s.Connected = false })
			if !sleep(ctx, c.mb.LeaseTTL/3) {
				return nil
			}
			continue
		default:
			c.setStatus(func(s *Status) { s.Standby = false })
			connected, err := c.session(ctx)
			c.setStatus(func(s *Status) { s.Connected = false; s.Idle = false })
			if ctx.Err() != nil {
				release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				if err := c.deps.State.ReleaseLease(release, c.stateKey("lease"), c.owner); err != nil {
					c.log.Warn("could not release the mailbox lease", "err", err)
				}
				cancel()
				return nil
			}
			if connected {
				delay = c.mb.ReconnectMin
			}
			if err != nil {
				c.recordError(err)
				c.log.Warn("IMAP session ended", "err", err, "retryIn", delay)
			}
		}
		if !sleep(ctx, jitter(delay)) {
			return nil
		}
		delay = min(delay*2, c.mb.ReconnectMax)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// jitter spreads reconnects of many mailboxes (and instances) over ±20%.
func jitter(d time.Duration) time.Duration {
	j := time.Duration(rand.Int64N(int64(d)/5*2+1)) - d/5
	return d + j
}

// session is one IMAP connection: it returns whether it got as far as selecting the folder, and
// why it ended.
func (c *Connector) session(parent context.Context) (bool, error) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	go c.keepLease(ctx, cancel)

	client, err := c.dial()
	if err != nil {
		return false, err
	}
	defer client.Close()
	stop := context.AfterFunc(ctx, func() { _ = client.Close() })
	defer stop()
	if err := client.Login(c.mb.IMAP.Username, c.mb.IMAP.Password.Reveal()).Wait(); err != nil {
		return false, fmt.Errorf("IMAP login as %s: %w", c.mb.IMAP.Username, cause(ctx, err))
	}
	sel, err := client.Select(c.mb.IMAP.Folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return false, fmt.Errorf("IMAP select %s: %w", c.mb.IMAP.Folder, cause(ctx, err))
	}
	idle := !c.mb.IMAP.NoIdle && (client.Caps().Has(imap.CapIdle) || client.Caps().Has(imap.CapIMAP4rev2))
	c.setStatus(func(s *Status) { s.Connected = true; s.Idle = idle })
	c.log.Info("IMAP connected", "folder", c.mb.IMAP.Folder, "uidValidity", sel.UIDValidity, "messages", sel.NumMessages, "idle", idle)

	if err := c.syncInitial(ctx, client, sel); err != nil {
		return true, cause(ctx, err)
	}
	for {
		if idle {
			cmd, err := client.Idle()
			if err != nil {
				return true, fmt.Errorf("IMAP IDLE: %w", cause(ctx, err))
			}
			timer := time.NewTimer(c.mb.IdleRestart)
			select {
			case <-c.wake:
			case <-timer.C:
			case <-ctx.Done():
			case <-client.Closed():
			}
			timer.Stop()
			if isClosed(client) && ctx.Err() == nil {
				return true, errors.New("IMAP connection closed by the server")
			}
			if err := cmd.Close(); err != nil {
				return true, fmt.Errorf("IMAP end IDLE: %w", cause(ctx, err))
			}
			if err := cmd.Wait(); err != nil {
				return true, fmt.Errorf("IMAP IDLE: %w", cause(ctx, err))
			}
		} else {
			// EXISTS also arrives with any command's response: a wake may come before the poll.
			select {
			case <-c.wake:
			case <-time.After(c.mb.IMAP.PollInterval):
			case <-ctx.Done():
			case <-client.Closed():
			}
		}
		if ctx.Err() != nil {
			return true, context.Cause(ctx)
		}
		if isClosed(client) {
			return true, errors.New("IMAP connection closed by the server")
		}
		drain(c.wake)
		if err := c.syncNew(ctx, client); err != nil {
			return true, cause(ctx, err)
		}
	}
}

func isClosed(c *imapclient.Client) bool {
	select {
	case <-c.Closed():
		return true
	default:
		return false
	}
}

func drain(ch chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

// cause prefers the reason the session was cancelled (a lost lease) over the closed-connection
// error it produced.
func cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		return c
	}
	return err
}

// keepLease renews the lease while the session lasts and ends the session if it is lost.
func (c *Connector) keepLease(ctx context.Context, cancel context.CancelCauseFunc) {
	t := time.NewTicker(c.mb.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			held, err := c.deps.State.AcquireLease(ctx, c.stateKey("lease"), c.owner, c.now(), c.mb.LeaseTTL)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				cancel(fmt.Errorf("renew lease: %w", err))
				return
			}
			if !held {
				cancel(errLeaseLost)
				return
			}
		}
	}
}

func (c *Connector) dial() (*imapclient.Client, error) {
	cfg := c.mb.IMAP
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	opts := &imapclient.Options{
		Dialer: &net.Dialer{Timeout: 30 * time.Second},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			// Called on the client's reader goroutine: it must not block.
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case c.wake <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	if cfg.TLS != TLSNone {
		tc, err := tlsConfig(cfg.Host, cfg.CAFile)
		if err != nil {
			return nil, err
		}
		opts.TLSConfig = tc
	}
	var (
		client *imapclient.Client
		err    error
	)
	switch cfg.TLS {
	case TLSImplicit:
		client, err = imapclient.DialTLS(addr, opts)
	case TLSStartTLS:
		client, err = imapclient.DialStartTLS(addr, opts)
	default:
		client, err = imapclient.DialInsecure(addr, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("IMAP connect to %s: %w", addr, err)
	}
	if err := client.WaitGreeting(); err != nil {
		client.Close()
		return nil, fmt.Errorf("IMAP greeting from %s: %w", addr, err)
	}
	return client, nil
}

// syncInitial brings the import up to date after connecting: everything after the last UID, or
// the look-back window on the first connection and after a UIDVALIDITY change (the server
// renumbered the folder, so UIDs say nothing; Message-ID dedupe keeps the re-import exact).
func (c *Connector) syncInitial(ctx context.Context, client *imapclient.Client, sel *imap.SelectData) error {
	var st imapState
	if _, err := getJSON(ctx, c.deps.State, c.stateKey("imap"), &st); err != nil {
		return err
	}
	if st.UIDValidity == sel.UIDValidity && st.UIDValidity != 0 {
		c.setStatus(func(s *Status) { s.UIDValidity, s.LastUID = st.UIDValidity, st.LastUID })
		return c.syncNew(ctx, client)
	}
	since := c.now().Add(-c.mb.LookBack)
	if st.UIDValidity != 0 {
		c.log.Warn("UIDVALIDITY changed: re-importing with Message-ID dedupe", "old", st.UIDValidity, "new", sel.UIDValidity)
		if !st.LastInternalDate.IsZero() && st.LastInternalDate.Add(-48*time.Hour).Before(since) {
			since = st.LastInternalDate.Add(-48 * time.Hour)
		}
	}
	found, err := client.UIDSearch(&imap.SearchCriteria{Since: since}, nil).Wait()
	if err != nil {
		return fmt.Errorf("IMAP search since %s: %w", since.Format(time.DateOnly), err)
	}
	uids := found.AllUIDs()
	slices.Sort(uids)
	st = imapState{UIDValidity: sel.UIDValidity, LastInternalDate: st.LastInternalDate}
	c.log.Info("importing the look-back window", "since", since.Format(time.DateOnly), "messages", len(uids))
	const chunk = 1000
	for i := 0; i < len(uids); i += chunk {
		set := imap.UIDSetNum(uids[i:min(i+chunk, len(uids))]...)
		if err := c.fetchAndIngest(ctx, client, set, &st); err != nil {
			return err
		}
	}
	// Mail older than the window is never imported: start counting after what the folder held.
	if next := uint32(sel.UIDNext); next > 0 && next-1 > st.LastUID {
		st.LastUID = next - 1
	}
	if err := c.saveState(ctx, st); err != nil {
		return err
	}
	return c.syncNew(ctx, client)
}

// syncNew imports every mail after the last imported UID.
func (c *Connector) syncNew(ctx context.Context, client *imapclient.Client) error {
	var st imapState
	if _, err := getJSON(ctx, c.deps.State, c.stateKey("imap"), &st); err != nil {
		return err
	}
	var set imap.UIDSet
	set.AddRange(imap.UID(st.LastUID+1), 0) // LastUID+1:*
	if err := c.fetchAndIngest(ctx, client, set, &st); err != nil {
		return err
	}
	c.setStatus(func(s *Status) { s.LastSync = c.now() })
	return nil
}

func (c *Connector) saveState(ctx context.Context, st imapState) error {
	if err := putJSON(ctx, c.deps.State, c.stateKey("imap"), st); err != nil {
		return err
	}
	c.setStatus(func(s *Status) { s.UIDValidity, s.LastUID = st.UIDValidity, st.LastUID })
	return nil
}

type fetched struct {
	uid     imap.UID
	arrived time.Time
	raw     []byte
}

type prepJob struct {
	uid  imap.UID
	in   fetched
	out  *prepared
	done chan struct{} // closed when out is set
}

// fetchAndIngest streams the mails of set from the server, prepares them (parse, store files) on
// several goroutines and ingests them one by one in UID order (a parent before its replies, as
// they arrived). The state advances only past mails that are stored, and is saved every so often
// and at the end: a crash re-imports at most the unsaved stretch, which dedupe absorbs.
func (c *Connector) fetchAndIngest(ctx context.Context, client *imapclient.Client, set imap.UIDSet, st *imapState) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	order := make(chan *prepJob, 512)
	work := make(chan *prepJob, 512)
	// The fetcher runs ahead of the ingester by at most this many bytes of mail, however large
	// the mails are.
	budget := newByteBudget(inFlightBytes)
	var fetchErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(order)
		defer close(work)
		fetchErr = c.fetch(ctx, client, set, func(f fetched) bool {
			if !budget.acquire(ctx, int64(len(f.raw))) {
				return false
			}
			j := &prepJob{uid: f.uid, in: f, done: make(chan struct{})}
			select {
			case order <- j:
			case <-ctx.Done():
				return false
			}
			select {
			case work <- j:
			case <-ctx.Done():
				return false
			}
			return true
		})
	}()
	// More workers than cores: preparing waits on the disk (each stored file is synced).
	for range max(4, 2*runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				j.out = c.prepare(ctx, j.in.raw, j.in.arrived)
				close(j.done)
			}
		}()
	}
	err := c.ingestInOrder(ctx, order, st, budget)
	cancel()
	budget.close()
	for range order { // unblock the fetcher if ingest stopped early
	}
	wg.Wait()
	if err != nil {
		return err
	}
	if fetchErr != nil {
		return fmt.Errorf("IMAP fetch: %w", fetchErr)
	}
	return nil
}

func (c *Connector) ingestInOrder(ctx context.Context, order <-chan *prepJob, st *imapState, budget *byteBudget) error {
	lastSave, unsaved := time.Now(), 0
	for j := range order {
		select {
		case <-j.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		budget.release(int64(len(j.in.raw)))
		if uint32(j.uid) <= st.LastUID {
			continue // "n:*" returns the last mail even when it is older than n
		}
		if err := c.ingestPrepared(ctx, j.out); err != nil {
			if unsaved > 0 {
				if serr := c.saveState(ctx, *st); serr != nil {
					c.log.Warn("could not save the import position", "err", serr)
				}
			}
			return fmt.Errorf("mail UID %d: %w", j.uid, err)
		}
		st.LastUID = uint32(j.uid)
		if j.in.arrived.After(st.LastInternalDate) {
			st.LastInternalDate = j.in.arrived.UTC()
		}
		j.in.raw, j.out = nil, nil // the queue may hold hundreds of these
		unsaved++
		if unsaved >= 200 || time.Since(lastSave) > 2*time.Second {
			if err := c.saveState(ctx, *st); err != nil {
				return err
			}
			lastSave, unsaved = time.Now(), 0
		}
	}
	if unsaved > 0 {
		return c.saveState(ctx, *st)
	}
	return nil
}

// inFlightBytes bounds the mail fetched but not yet ingested.
const inFlightBytes = 256 << 20

// byteBudget lets a producer run ahead of its consumer by a bounded number of bytes. One item
// larger than the whole budget is let through alone.
type byteBudget struct {
	mu     sync.Mutex
	cond   *sync.Cond
	free   int64
	max    int64
	closed bool
}

func newByteBudget(n int64) *byteBudget {
	b := &byteBudget{free: n, max: n}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *byteBudget) acquire(ctx context.Context, n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	n = min(n, b.max)
	for b.free < n && !b.closed && ctx.Err() == nil {
		b.cond.Wait()
	}
	if b.closed || ctx.Err() != nil {
		return false
	}
	b.free -= n
	return true
}

func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	b.free = min(b.free+min(n, b.max), b.max)
	b.mu.Unlock()
	b.cond.Broadcast()
}

// close wakes and refuses every waiting acquire (the consumer stopped).
func (b *byteBudget) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cond.Broadcast()
}

// fetch streams UID, INTERNALDATE and the full source of each mail in set to yield, in the
// server's order; yield returns false to stop.
func (c *Connector) fetch(ctx context.Context, client *imapclient.Client, set imap.UIDSet, yield func(fetched) bool) error {
	cmd := client.Fetch(set, &imap.FetchOptions{
		UID: true, InternalDate: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		var f fetched
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				f.uid = it.UID
			case imapclient.FetchItemDataInternalDate:
				f.arrived = it.Time
			case imapclient.FetchItemDataBodySection:
				if it.Literal == nil {
					continue
				}
				b, err := io.ReadAll(io.LimitReader(it.Literal, maxMessageBytes))
				if err != nil {
					_ = cmd.Close()
					return fmt.Errorf("read mail: %w", err)
				}
				if _, err := io.Copy(io.Discard, it.Literal); err != nil {
					_ = cmd.Close()
					return fmt.Errorf("read mail: %w", err)
				}
				f.raw = b
			}
		}
		if f.uid == 0 || f.raw == nil {
			continue
		}
		if !yield(f) {
			_ = cmd.Close()
			return ctx.Err()
		}
	}
	return cmd.Close()
}

// appendSent saves a copy of a sent reply in the configured folder.
func (c *Connector) appendSent(ctx context.Context, raw []byte) error {
	client, err := c.dial()
	if err != nil {
		return err
	}
	defer client.Close()
	stop := context.AfterFunc(ctx, func() { _ = client.Close() })
	defer stop()
	if err := client.Login(c.mb.IMAP.Username, c.mb.IMAP.Password.Reveal()).Wait(); err != nil {
		return fmt.Errorf("IMAP login: %w", err)
	}
	cmd := client.Append(c.mb.SentFolder, int64(len(raw)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}, Time: c.now()})
	if _, err := cmd.Write(raw); err != nil {
		return fmt.Errorf("IMAP append: %w", err)
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("IMAP append: %w", err)
	}
	if _, err := cmd.Wait(); err != nil {
		return fmt.Errorf("IMAP append to %s: %w", c.mb.SentFolder, err)
	}
	_ = client.Logout().Wait()
	return nil
}
