package commerce_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/inbox"
)

func TestLoadFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(c commerce.Config) bool
		wantErr string
	}{
		{name: "nothing set: working defaults", env: map[string]string{},
			check: func(c commerce.Config) bool {
				return c.Currency == "IDR" && c.AbandonAfter == time.Hour && c.LowStock == 3 && !c.Shopify.WebhooksEnabled() && c.Shopify.APIVersion == "2024-10"
			}},
		{name: "a full Shopify setup", env: map[string]string{"SERAMBI_SHOPIFY_WEBHOOK_SECRET": "s", "SERAMBI_SHOPIFY_SHOP": "toko.myshopify.com",
			"SERAMBI_SHOPIFY_ACCESS_TOKEN": "t", "SERAMBI_COMMERCE_ABANDON_AFTER": "90m", "SERAMBI_COMMERCE_ACTION_TEAMS": "Refunds, Billing"},
			check: func(c commerce.Config) bool {
				return c.Shopify.WebhooksEnabled() && c.Shopify.AdminEnabled() && c.AbandonAfter == 90*time.Minute &&
					fmt.Sprint(c.ActionTeams) == "[Refunds Billing]"
			}},
		{name: "a bad duration names the variable", env: map[string]string{"SERAMBI_COMMERCE_ABANDON_AFTER": "soon"}, wantErr: "SERAMBI_COMMERCE_ABANDON_AFTER"},
		{name: "a bad currency names the variable", env: map[string]string{"SERAMBI_COMMERCE_CURRENCY": "rupiah"}, wantErr: "SERAMBI_COMMERCE_CURRENCY"},
		{name: "a shop URL instead of a domain", env: map[string]string{"SERAMBI_SHOPIFY_SHOP": "https://toko.myshopify.com"}, wantErr: "SERAMBI_SHOPIFY_SHOP"},
		{name: "a token without a shop", env: map[string]string{"SERAMBI_SHOPIFY_ACCESS_TOKEN": "t"}, wantErr: "SERAMBI_SHOPIFY_SHOP"},
		{name: "an actions webhook without a secret", env: map[string]string{"SERAMBI_COMMERCE_ACTIONS_URL": "https://shop.example.id/serambi"},
			wantErr: "SERAMBI_COMMERCE_ACTIONS_SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := commerce.LoadFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(c) {
				t.Errorf("config = %+v, err %v", c, err)
			}
		})
	}
	c, _ := commerce.LoadFromEnv(func(k string) string {
		return map[string]string{"SERAMBI_SHOPIFY_ACCESS_TOKEN": "shpat_secret", "SERAMBI_SHOPIFY_SHOP": "t.myshopify.com"}[k]
	})
	if s := fmt.Sprintf("%v %+v", c, c); strings.Contains(s, "shpat_secret") {
		t.Error("the access token is printed")
	}
}

func TestLinkCart(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	// The widget reports the cart before Shopify's cart webhook arrives.
	must(t, h.svc.LinkCart(ctx, "tok-1", "cust-1"))
	must(t, h.svc.LinkCart(ctx, "tok-1", "cust-1"))
	if err := h.svc.LinkCart(ctx, "tok-1", "cust-2"); !errors.Is(err, inbox.ErrConflict) {
		t.Errorf("linking another customer's cart: %v", err)
	}
	if _, _, err := h.svc.ShopifyWebhook(ctx, "carts/update", []byte(`{"id":"tok-1","token":"tok-1","updated_at":"2026-03-02T09:00:00Z",
		"line_items":[{"id":1,"variant_id":1,"sku":"A","title":"A","quantity":1,"price":"10.00","line_price":"10.00"}]}`)); err != nil {
		t.Fatal(err)
	}
	c, err := h.store.CurrentCart(ctx, "cust-1")
	if err != nil || c.ID != "tok-1" || len(c.Items) != 1 || c.Total != 1000 {
		t.Errorf("the linked cart = %+v, %v", c, err)
	}
}
