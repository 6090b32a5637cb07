package mongotest_test

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/serambi/serambi/database/mongo/mongotest"
)

func TestStartGivesAFreshDatabase(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"first", "second"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			uri := mongotest.Start(t)
			t.Logf("started in %s: %s", time.Since(start), uri)
			ctx := context.Background()
			c, err := mongo.Connect(options.Client().ApplyURI(uri))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Disconnect(ctx)
			cs, err := connstringDB(uri)
			if err != nil {
				t.Fatal(err)
			}
			coll := c.Database(cs).Collection("things")
			n, err := coll.CountDocuments(ctx, bson.D{})
			if err != nil || n != 0 {
				t.Fatalf("fresh database has %d documents, err %v", n, err)
			}
			if _, err := coll.InsertOne(ctx, bson.D{{Key: "name", Value: name}}); err != nil {
				t.Fatal(err)
			}
			var got struct{ Name string }
			if err := coll.FindOne(ctx, bson.D{}).Decode(&got); err != nil || got.Name != name {
				t.Fatalf("read back %q, err %v", got.Name, err)
			}
		})
	}
}
