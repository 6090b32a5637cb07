package mongo_test

import (
	"testing"

	"github.com/serambi/serambi/database/storetest"
	"github.com/serambi/serambi/notifications"
)

func TestNotifications(t *testing.T) {
	storetest.RunNotifications(t, func(t *testing.T) notifications.Store { return openStore(t) })
}
