package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/serambi/serambi/inbox"
)

var _ inbox.Blobs = (*Blobs)(nil)

// Blobs keeps attachment bytes as files under a directory, named by their SHA-256
// (dir/ab/abcdef…), so each content is stored once. A file is written under a temporary name and
// renamed into place, so a reader never sees half a file and a crash leaves no torn blob.
type Blobs struct {
	dir string
}

// NewBlobs returns a blob store under dir, creating it when missing.
func NewBlobs(dir string) (*Blobs, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o750); err != nil {
		return nil, fmt.Errorf("create blob directory %s: %w", dir, err)
	}
	return &Blobs{dir: dir}, nil
}

// Put stores what r yields, unless it is longer than limit bytes.
func (b *Blobs) Put(ctx context.Context, r io.Reader, limit int64) (sha string, size int64, err error) {
	tmp, err := os.CreateTemp(filepath.Join(b.dir, "tmp"), "put-*")
	if err != nil {
		return "", 0, fmt.Errorf("create temp blob: %w", err)
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	// One byte more than the limit tells "exactly at the limit" from "over it".
	size, err = io.Copy(io.MultiWriter(tmp, h), io.LimitReader(ctxReader{ctx, r}, limit+1))
	if err != nil {
		return "", 0, fmt.Errorf("store blob: %w", err)
	}
	if size > limit {
		return "", 0, fmt.Errorf("attachment over %d bytes: %w", limit, inbox.ErrTooLarge)
	}
	sha = hex.EncodeToString(h.Sum(nil))
	final := b.path(sha)
	if _, err := os.Stat(final); err == nil {
		return sha, size, nil // stored already
	}
	if err := tmp.Sync(); err != nil {
		return "", 0, fmt.Errorf("sync blob: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", 0, fmt.Errorf("close blob: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return "", 0, fmt.Errorf("create blob directory: %w", err)
	}
	// Two concurrent puts of one content both rename identical bytes into place: either wins.
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", 0, fmt.Errorf("store blob %s: %w", sha, err)
	}
	tmp = nil
	// The rename is durable only once the directory is synced.
	if d, err := os.Open(filepath.Dir(final)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return sha, size, nil
}

// Open returns the bytes stored under sha.
func (b *Blobs) Open(_ context.Context, sha string) (io.ReadCloser, error) {
	if !validSHA(sha) {
		return nil, fmt.Errorf("blob %q: not a SHA-256: %w", sha, inbox.ErrNotFound)
	}
	f, err := os.Open(b.path(sha))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", sha, inbox.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", sha, err)
	}
	return f, nil
}

func (b *Blobs) path(sha string) string { return filepath.Join(b.dir, sha[:2], sha) }

// validSHA accepts only lower-case hex of the right length, so a name can never leave the directory.
func validSHA(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ctxReader stops a long copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
