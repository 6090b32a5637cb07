package shop

import (
	"math/rand/v2"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// idSource makes the ids the inbox would make (lower-case ULIDs, sorting by creation time) from
// a fixed seed, so that the world is the same on every run.
type idSource struct{ entropy *rand.ChaCha8 }

func newIDSource() *idSource {
	return &idSource{entropy: rand.NewChaCha8([32]byte{'t', 'o', 'k', 'o', '-', 's', 'e', 'r', 'a', 'm', 'b', 'i'})}
}

// at returns a new id for something created at t.
func (s *idSource) at(t time.Time) string {
	id, err := ulid.New(ulid.Timestamp(t), s.entropy)
	if err != nil {
		panic("shop: ulid: " + err.Error()) // only for times before 1970 or after 10889
	}
	return strings.ToLower(id.String())
}
