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
// filename is the SHA-256 of its bytes, so a forwarded attachment is stored once.
//
// The file's _id is a fresh ObjectID rather than the hash. GridFS writes the chunks first and the
// file document last; with the hash as _id, two concurrent uploads of the same bytes would collide
// on the chunks' unique (files_id, n) index, and an upload cut short by a crash would leave chunks
// that make every later upload of those bytes fail. With a fresh _id an interrupted upload leaves
// only unreferenced chunks, and concurrent uploads both succeed; then every copy but the first
// completed one (by uploadDate, then _id) removes itself, so one copy remains. (Two uploads that
// complete within the same millisecond may both stay: a wasted copy, never a missing one.)
type Blobs struct {
	bucket *mongo.GridFSBucket
	files  *mongo.Collection
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
	if ok, err := b.exists(ctx, sha); err != nil || ok {
		return sha, n, err
	}
	body, err := sp.reader()
	if err != nil {
		return "", 0, err
	}
	id, err := b.bucket.UploadFromStream(ctx, sha, body, options.GridFSUpload().SetMetadata(bson.D{{Key: "size", Value: n}}))
	if err != nil {
		return "", 0, fmt.Errorf("mongo: store attachment %s: %w", sha, err)
	}
	// Of concurrent uploads of the same bytes the first completed stays. GridFS sets uploadDate
	// when it writes the file document, after the last chunk: a copy that is listed is whole.
	var first struct {
		ID bson.ObjectID `bson:"_id"`
	}
	err = b.files.FindOne(ctx, bson.D{{Key: "filename", Value: sha}}, options.FindOne().
		SetSort(bson.D{{Key: "uploadDate", Value: 1}, {Key: "_id", Value: 1}}).SetProjection(bson.D{{Key: "_id", Value: 1}})).Decode(&first)
	if err == nil && first.ID != id {
		if err := b.bucket.Delete(ctx, id); err != nil && !errors.Is(err, mongo.ErrFileNotFound) {
			return "", 0, fmt.Errorf("mongo: drop duplicate copy of attachment %s: %w", sha, err)
		}
	}
	return sha, n, nil
}

func (b *Blobs) exists(ctx context.Context, sha string) (bool, error) {
	err := b.files.FindOne(ctx, bson.D{{Key: "filename", Value: sha}}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mongo: look up attachment %s: %w", sha, err)
	}
	return true, nil
}

// Open returns the bytes stored under sha.
func (b *Blobs) Open(ctx context.Context, sha string) (io.ReadCloser, error) {
	if !validSHA(sha) {
		return nil, fmt.Errorf("mongo: attachment %q: %w", sha, inbox.ErrNotFound)
	}
	// Revision 0 is the first completed copy (by uploadDate): the one Put keeps when uploads raced.
	ds, err := b.bucket.OpenDownloadStreamByName(ctx, sha, options.GridFSName().SetRevision(0))
	if errors.Is(err, mongo.ErrFileNotFound) {
		return nil, fmt.Errorf("mongo: attachment %s: %w", sha, inbox.ErrNotFound)
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
