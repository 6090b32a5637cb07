package mongo_test

import (
	"testing"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/database/storetest"
)

func TestCommerceStore(t *testing.T) {
	storetest.RunCommerce(t, func(t *testing.T) commerce.Store {
		c, err := openStore(t).Commerce(t.Context())
		if err != nil {
			t.Fatalf("commerce store: %v", err)
		}
		return c
	})
}
