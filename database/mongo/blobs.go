package mongo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/serambi/serambi/inbox"
)

// Blobs stores attachment bytes in GridFS (bucket "attachments"), addressed by content: a file's
// filename is the SHA-256 of its bytes, and the collection attachments.sha maps each SHA-256 to
// the one file that holds it (_id = the SHA-256, so the mapping is a natural unique key).
//
// The file's _id is a fresh ObjectID rather than the hash. GridFS writes the chunks first and the
// file document last; with the hash as _id, two concurrent uploads of the same bytes would collide
// on the chunks' unique (files_id, n) index, and an upload cut short by a crash would leave chunks
// that make every later upload of those bytes fail. With a fresh _id an interrupted upload leaves
// only unreferenced chunks, and concurrent uploads both complete; the first to insert the mapping
// wins, and the others delete their copy, so the bytes are stored once. The mapping is inserted
// only after a complete upload, so it never names a partial file.
type Blobs struct {
	db *mongo.Database
	// bucket serves downloads only. A *mongo.GridFSBucket is not safe for concurrent uploads:
	// UploadFromStream reads through one buffer the bucket owns (driver v2.10), so two at once
	// corrupt each other's bytes. Put takes a bucket of its own.
	bucket *mongo.GridFSBucket
	shas   *mongo.Collection
}

func newBlobs(db *mongo.Database) *Blobs {
	return &Blobs{db: db, bucket: newBucket(db), shas: db.Collection(blobBucket + ".sha")}
}

func newBucket(db *mongo.Database) *mongo.GridFSBucket {
	return db.GridFSBucket(options.GridFSBucket().SetName(blobBucket))
}

type blobDoc struct {
	SHA    string        `bson:"_id"`
	FileID bson.ObjectID `bson:"fileId"`
	Size   int64         `bson:"size"`
}

// spoolInMemory is how much of a body Put keeps in memory before it spools to a temporary file.
const spoolInMemory = 1 << 20

// Put stores r's bytes unless the same bytes are stored already.
func (b *Blobs) Put(ctx context.Context, r io.Reader, limit int64) (string, int64, error) {
	sp := &spool{}
	defer sp.close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(h, sp), io.LimitReader(r, limit+1))
	if err != nil {
		return "", 0, fmt.Errorf("mongo: read attachment: %w", err)
	}
	if n > limit {
		return "", 0, fmt.Errorf("mongo: attachment is over %d bytes: %w", limit, inbox.ErrTooLarge)
	}
	sha := hex.EncodeToString(h.Sum(nil))
	if _, err := b.lookup(ctx, sha); err == nil {
		return sha, n, nil
	} else if !errors.Is(err, inbox.ErrNotFound) {
		return "", 0, err
	}
	body, err := sp.reader()
	if err != nil {
		return "", 0, err
	}
	upload := newBucket(b.db)
	id, err := upload.UploadFromStream(ctx, sha, body)
	if err != nil {
		return "", 0, fmt.Errorf("mongo: store attachment %s: %w", sha, err)
	}
	_, err = b.shas.InsertOne(ctx, blobDoc{SHA: sha, FileID: id, Size: n})
	if isDuplicateKey(err) {
		// Another Put of the same bytes finished first: keep its copy, drop ours.
		if err := upload.Delete(ctx, id); err != nil && !errors.Is(err, mongo.ErrFileNotFound) {
			return "", 0, fmt.Errorf("mongo: drop duplicate copy of attachment %s: %w", sha, err)
		}
		return sha, n, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("mongo: record attachment %s: %w", sha, err)
	}
	return sha, n, nil
}

func (b *Blobs) lookup(ctx context.Context, sha string) (blobDoc, error) {
	var d blobDoc
	if err := b.shas.FindOne(ctx, bson.D{{Key: "_id", Value: sha}}).Decode(&d); err != nil {
		return d, fmt.Errorf("mongo: attachment %s: %w", sha, notFound(err))
	}
	return d, nil
}

// Open returns the bytes stored under sha.
func (b *Blobs) Open(ctx context.Context, sha string) (io.ReadCloser, error) {
	if !validSHA(sha) {
		return nil, fmt.Errorf("mongo: attachment %q: %w", sha, inbox.ErrNotFound)
	}
	d, err := b.lookup(ctx, sha)
	if err != nil {
		return nil, err
	}
	ds, err := b.bucket.OpenDownloadStream(ctx, d.FileID)
	if errors.Is(err, mongo.ErrFileNotFound) {
		return nil, fmt.Errorf("mongo: attachment %s: its file is gone: %w", sha, inbox.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: open attachment %s: %w", sha, err)
	}
	return ds, nil
}

func validSHA(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// spool keeps a body in memory up to spoolInMemory bytes, then in a temporary file.
type spool struct {
	mem  bytes.Buffer
	file *os.File
}

func (s *spool) Write(p []byte) (int, error) {
	if s.file == nil && s.mem.Len()+len(p) <= spoolInMemory {
		return s.mem.Write(p)
	}
	if s.file == nil {
		f, err := os.CreateTemp("", "serambi-attachment-*")
		if err != nil {
			return 0, err
		}
		s.file = f
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			return 0, err
		}
		s.mem = bytes.Buffer{}
	}
	return s.file.Write(p)
}

func (s *spool) reader() (io.Reader, error) {
	if s.file == nil {
		return bytes.NewReader(s.mem.Bytes()), nil
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("mongo: rewind spooled attachment: %w", err)
	}
	return s.file, nil
}

func (s *spool) close() {
	if s.file != nil {
		_ = s.file.Close()
		_ = os.Remove(s.file.Name())
	}
}
