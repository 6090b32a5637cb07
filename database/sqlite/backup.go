package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the database file at dbPath to path, while Serambi may keep
// running in this or another process: VACUUM INTO reads one snapshot (writers go on meanwhile)
// and writes a compact file that opens on its own, without the WAL. path must not exist yet.
func Backup(ctx context.Context, dbPath, path string) error {
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("backup: the database %s: %w", dbPath, err)
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("backup %s: the file exists already; choose a new name", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup %s: %w", path, err)
	}
	// A connection of its own, not the store's: no migrations, no writer, no checkpoints, and
	// nothing that waits on the running server's readers.
	db, err := sql.Open("sqlite", fmt.Sprintf("%s?_pragma=busy_timeout(%d)", dbPath, busyTimeout.Milliseconds()))
	if err != nil {
		return fmt.Errorf("backup: open %s: %w", dbPath, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("backup %s to %s: %w", dbPath, path, err)
	}
	return nil
}

// CopyTo copies every stored attachment into dir (another blob directory, e.g. next to a
// backup), skipping the ones already there: blobs never change once written, so an existing
// file of the same name is the same content. It returns how many files it copied.
func (b *Blobs) CopyTo(ctx context.Context, dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(b.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(b.dir, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel == "tmp" {
				return fs.SkipDir // uploads in progress are not attachments yet
			}
			return os.MkdirAll(filepath.Join(dir, rel), 0o750)
		}
		dst := filepath.Join(dir, rel)
		if _, err := os.Stat(dst); err == nil {
			return nil
		}
		if err := copyFile(p, dst); err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("copy attachments to %s: %w", dir, err)
	}
	return n, nil
}

// copyFile writes src to dst through a temporary name, so an interrupted copy leaves no torn file
// that a later run would skip as done.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".copy-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
