package sqlite

import (
	"strings"
	"testing"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/database/storetest"
)

func TestCommerceStore(t *testing.T) {
	storetest.RunCommerce(t, func(t *testing.T) commerce.Store { return openTemp(t) })
}

// A page of the abandoned-cart list reads the partial index from the cursor on, in its order: no
// scan of the carts, no sorting, whatever the number of open, converted or guest carts.
func TestAbandonedCartsReadOnlyTheirIndex(t *testing.T) {
	s := openTemp(t)
	for name, q := range map[string]struct {
		sql  string
		args []any
	}{
		"first page": {abandonedCartsFirst, []any{50}},
		"next page":  {abandonedCartsAfter, []any{int64(1), "cart-1", 50}},
	} {
		plan := explain(t, s, q.sql, q.args...)
		if !strings.Contains(plan, "INDEX commerce_carts_abandoned") || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("%s does not read commerce_carts_abandoned in order:\n%s", name, plan)
		}
		if name == "next page" && !strings.Contains(plan, "SEARCH") {
			t.Errorf("%s scans the index instead of starting at the cursor:\n%s", name, plan)
		}
	}
}
