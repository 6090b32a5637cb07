package sqlite

import (
	"testing"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/database/storetest"
)

func TestCommerceStore(t *testing.T) {
	storetest.RunCommerce(t, func(t *testing.T) commerce.Store { return openTemp(t) })
}
