package sqlite_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/inbox"
)

// A backup taken while messages keep arriving opens on its own and holds a consistent state:
// every message it has belongs to a conversation it has, and the attachments come along.
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "serambi.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	blobs, err := sqlite.NewBlobs(filepath.Join(dir, "attachments"))
	if err != nil {
		t.Fatal(err)
	}
	x := inbox.New(st, bus.NewLocal(log, 0), inbox.NewNormalizer("ID"), time.Now, log)
	ingest := func(i int) {
		sha, size, err := blobs.Put(ctx, strings.NewReader(strings.Repeat("x", i+1)), 1<<20)
		if err != nil {
			t.Error(err)
			return
		}
		_, err = x.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelWhatsApp, ExternalID: "wamid." + string(rune('a'+i%26)) + time.Now().Format("150405.000000000"),
			From: []inbox.Identity{{Kind: inbox.KindWhatsApp, Value: "+62812345678" + string(rune('0'+i%10))}}, Text: "halo",
			Attachments: []inbox.Attachment{{Name: "a.txt", ContentType: "text/plain", Size: size, SHA256: sha}}})
		if err != nil {
			t.Error(err)
		}
	}
	for i := range 20 {
		ingest(i)
	}
	done := make(chan struct{})
	go func() { // writes go on while the backup runs
		defer close(done)
		for i := 20; i < 120; i++ {
			ingest(i)
		}
	}()
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := sqlite.Backup(ctx, filepath.Join(dir, "serambi.db"), backup); err != nil {
		t.Fatal(err)
	}
	<-done
	if err := sqlite.Backup(ctx, filepath.Join(dir, "serambi.db"), backup); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("a second backup over the first: %v; want a refusal", err)
	}
	copied, err := blobs.CopyTo(ctx, filepath.Join(filepath.Dir(backup), "attachments"))
	if err != nil || copied != 120 {
		t.Fatalf("copied %d attachments (%v); want 120", copied, err)
	}
	if again, err := blobs.CopyTo(ctx, filepath.Join(filepath.Dir(backup), "attachments")); err != nil || again != 0 {
		t.Fatalf("copying again copied %d (%v); want 0", again, err)
	}

	restored, err := sqlite.Open(ctx, backup, log)
	if err != nil {
		t.Fatalf("the backup does not open: %v", err)
	}
	defer restored.Close()
	convs, err := restored.ListConversations(ctx, inbox.ConversationFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(convs) != 10 {
		t.Fatalf("backup has %d conversations; want the 10 customers'", len(convs))
	}
	total := 0
	for _, c := range convs {
		msgs, err := restored.ListMessages(ctx, c.ID, inbox.Cursor{}, 200)
		if err != nil {
			t.Fatal(err)
		}
		if c.Unread != len(msgs) {
			t.Errorf("conversation %s counts %d unread but holds %d messages: the snapshot is torn", c.ID, c.Unread, len(msgs))
		}
		total += len(msgs)
	}
	if total < 20 || total > 120 {
		t.Fatalf("backup holds %d messages; want between the 20 written before and the 120 in all", total)
	}
}
