package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/serambi/serambi/inbox"
)

// RunBlobs checks an inbox.Blobs implementation. open returns a fresh, empty one.
func RunBlobs(t *testing.T, open func(t *testing.T) inbox.Blobs) {
	read := func(t *testing.T, b inbox.Blobs, sha string) []byte {
		t.Helper()
		rc, err := b.Open(t.Context(), sha)
		must(t, err, "open "+sha)
		defer rc.Close()
		data, err := io.ReadAll(rc)
		must(t, err, "read "+sha)
		return data
	}
	shaOf := func(data []byte) string { s := sha256.Sum256(data); return hex.EncodeToString(s[:]) }

	t.Run("Put returns the SHA-256 and size and Open gives the bytes back", func(t *testing.T) {
		b := open(t)
		for _, data := range [][]byte{[]byte("foto struk pembayaran"), {}, bytes.Repeat([]byte{0, 1, 2, 255}, 100_000)} {
			sha, size, err := b.Put(t.Context(), bytes.NewReader(data), 1<<20)
			must(t, err, "put")
			if sha != shaOf(data) || size != int64(len(data)) {
				t.Errorf("put %d bytes = %s %d, want %s %d", len(data), sha, size, shaOf(data), len(data))
			}
			if got := read(t, b, sha); !bytes.Equal(got, data) {
				t.Errorf("read back %d bytes, want %d identical bytes", len(got), len(data))
			}
		}
	})

	t.Run("the same bytes put twice are one blob", func(t *testing.T) {
		b := open(t)
		data := []byte("invoice.pdf contents")
		sha1, _, err := b.Put(t.Context(), bytes.NewReader(data), 1024)
		must(t, err, "first put")
		sha2, _, err := b.Put(t.Context(), bytes.NewReader(data), 1024)
		must(t, err, "second put")
		if sha1 != sha2 {
			t.Errorf("two puts of one content gave %s and %s", sha1, sha2)
		}
		if got := read(t, b, sha1); !bytes.Equal(got, data) {
			t.Errorf("read back %q", got)
		}
	})

	t.Run("a body over the limit is refused and nothing is stored", func(t *testing.T) {
		b := open(t)
		data := []byte("0123456789A")
		_, _, err := b.Put(t.Context(), bytes.NewReader(data), 10)
		if !errors.Is(err, inbox.ErrTooLarge) {
			t.Errorf("err = %v, want inbox.ErrTooLarge", err)
		}
		_, err = b.Open(t.Context(), shaOf(data))
		notFound(t, err, "the refused blob")
		sha, _, err := b.Put(t.Context(), bytes.NewReader(data[:10]), 10)
		must(t, err, "a body exactly at the limit")
		if got := read(t, b, sha); !bytes.Equal(got, data[:10]) {
			t.Errorf("read back %q", got)
		}
	})

	t.Run("a failing reader stores nothing", func(t *testing.T) {
		b := open(t)
		data := []byte("partial upload")
		_, _, err := b.Put(t.Context(), io.MultiReader(bytes.NewReader(data), errReader{}), 1024)
		if err == nil {
			t.Fatalf("put from a failing reader succeeded")
		}
		_, err = b.Open(t.Context(), shaOf(data))
		notFound(t, err, "the partial blob")
	})

	t.Run("an unknown or malformed sha is not found", func(t *testing.T) {
		b := open(t)
		_, err := b.Open(t.Context(), shaOf([]byte("never stored")))
		notFound(t, err, "unknown sha")
		for _, bad := range []string{"", "../../etc/passwd", strings.Repeat("z", 64), "ab/../../x"} {
			if rc, err := b.Open(t.Context(), bad); err == nil {
				rc.Close()
				t.Errorf("Open(%q) succeeded", bad)
			}
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }
