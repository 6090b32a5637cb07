package inbox

import (
	"errors"
	"fmt"
	"testing"
)

func TestNormalize(t *testing.T) {
	n := NewNormalizer("ID")
	tests := []struct {
		name    string
		in      Identity
		want    string
		wantErr bool
	}{
		{"email is lower-cased and trimmed", Identity{Kind: KindEmail, Value: "  Siti.Rahma@Example.COM "}, "siti.rahma@example.com", false},
		{"email with a display name is refused", Identity{Kind: KindEmail, Value: "Siti <siti@example.com>"}, "", true},
		{"not an email", Identity{Kind: KindEmail, Value: "siti at example"}, "", true},
		{"national Indonesian number", Identity{Kind: KindPhone, Value: "0812-3456-7890"}, "+6281234567890", false},
		{"international with spaces", Identity{Kind: KindPhone, Value: "+62 812 3456 7890"}, "+6281234567890", false},
		{"country code without plus", Identity{Kind: KindPhone, Value: "6281234567890"}, "+6281234567890", false},
		{"foreign number keeps its country", Identity{Kind: KindPhone, Value: "+1 415 555 2671"}, "+14155552671", false},
		{"whatsapp ids are phone numbers", Identity{Kind: KindWhatsApp, Value: "+6281234567890"}, "+6281234567890", false},
		{"too short to be a phone", Identity{Kind: KindPhone, Value: "12"}, "", true},
		{"telegram ids are numeric", Identity{Kind: KindTelegram, Value: "123456789"}, "123456789", false},
		{"telegram usernames are not ids", Identity{Kind: KindTelegram, Value: "@siti"}, "", true},
		{"widget ids are opaque and keep case", Identity{Kind: KindWidget, Value: "vIsItOr-1"}, "vIsItOr-1", false},
		{"shop ids are opaque", Identity{Kind: KindShop, Value: "cust_42"}, "cust_42", false},
		{"empty value", Identity{Kind: KindShop, Value: "  "}, "", true},
		{"invalid UTF-8", Identity{Kind: KindShop, Value: "a\xffb"}, "", true},
		{"unknown kind", Identity{Kind: "fax", Value: "1"}, "", true},
	}
	// Twice: the second round answers phone numbers from the normalizer's memory, which must
	// give exactly what parsing gave.
	for round := range 2 {
		for _, tt := range tests {
			t.Run(fmt.Sprint(tt.name, " round ", round), func(t *testing.T) {
				got, err := n.Normalize(tt.in)
				if tt.wantErr {
					if !errors.Is(err, ErrInvalid) {
						t.Fatalf("Normalize(%q) error = %v, want ErrInvalid", tt.in.Value, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("Normalize(%q): %v", tt.in.Value, err)
				}
				if got.Value != tt.want || got.Kind != tt.in.Kind {
					t.Fatalf("Normalize(%q) = %s:%s, want %s:%s", tt.in.Value, got.Kind, got.Value, tt.in.Kind, tt.want)
				}
			})
		}
	}
}
