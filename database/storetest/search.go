package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/serambi/serambi/inbox"
)

// RunCustomerSearch is the specification of customer search (inbox.CustomerFinder and
// Inbox.FindCustomers) that every store meets.
func RunCustomerSearch(t *testing.T, open func(t *testing.T) inbox.Store) {
	ctx := context.Background()
	sv := newService(t, open)
	if _, ok := sv.s.(inbox.CustomerFinder); !ok {
		t.Fatalf("%T does not implement inbox.CustomerFinder", sv.s)
	}
	write := func(ext, name string, ids ...inbox.Identity) string {
		t.Helper()
		res, err := sv.x.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelAPI, ExternalID: ext, From: ids, Name: name, Text: "halo"})
		if err != nil {
			t.Fatal(err)
		}
		return res.CustomerID
	}
	email := func(v string) inbox.Identity { return inbox.Identity{Kind: inbox.KindEmail, Value: v, Verified: true} }
	siti := write("s1", "Siti Rahma", email("siti.rahma@example.id"),
		inbox.Identity{Kind: inbox.KindWhatsApp, Value: "+6281234567890", Verified: true})
	budi := write("b1", "Budi Santoso", email("budi@toko.example"))
	promo := write("p1", "Diskon 100%_Andi", email("andi@promo.example"))
	// Two records of one person, merged: only the survivor is found.
	dewi := write("d1", "Dewi Lestari", email("dewi@example.id"))
	dewiOld := write("d2", "Dewi Lestari (lama)", email("dewi.lama@example.id"))
	if _, err := sv.x.Merge(ctx, dewi, dewiOld, ""); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		query string
		want  []string // most recently changed first
	}{
		{"siti", []string{siti}},
		{"RAHMA", []string{siti}},          // case does not matter
		{"rahma@example", []string{siti}},  // part of an email address
		{"toko.example", []string{budi}},   // the dot is a dot, not any character
		{"+62812345", []string{siti}},      // part of a WhatsApp number, as stored
		{"0812-3456-7890", []string{siti}}, // a national number, as people type it
		{"3456 7890", []string{siti}},      // part of one, with a space
		{"100%", []string{promo}},          // % is a character, not a wildcard
		{"%_", []string{promo}},            // and so is _
		{"Dewi", []string{dewi}},           // the merged-away record is not found
		{"dewi.lama", []string{dewi}},      // its address moved to the survivor
		{"example", []string{dewi, promo, budi, siti}},
		{"tidak ada", nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.query), func(t *testing.T) {
			found, err := sv.x.FindCustomers(ctx, tt.query, 0)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range found {
				got = append(got, c.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("found %v, want %v (siti %s, budi %s, promo %s, dewi %s)", got, tt.want, siti, budi, promo, dewi)
			}
		})
	}

	t.Run("a limit is kept", func(t *testing.T) {
		found, err := sv.x.FindCustomers(ctx, "example", 2)
		if err != nil || len(found) != 2 || found[0].ID != dewi {
			t.Fatalf("found %d (%v), want the 2 most recently changed", len(found), err)
		}
	})
	t.Run("found customers carry their identities", func(t *testing.T) {
		found, err := sv.x.FindCustomers(ctx, "siti", 0)
		if err != nil || len(found) != 1 || !slices.ContainsFunc(found[0].Identities, func(id inbox.Identity) bool {
			return id.Kind == inbox.KindWhatsApp && id.Value == "+6281234567890"
		}) || found[0].Name != "Siti Rahma" {
			t.Fatalf("found %+v, %v", found, err)
		}
	})
	for _, bad := range []string{"", "a", " b ", string([]byte{0xff, 0xfe})} {
		t.Run(fmt.Sprintf("%q is refused", bad), func(t *testing.T) {
			if _, err := sv.x.FindCustomers(ctx, bad, 0); !errors.Is(err, inbox.ErrInvalid) {
				t.Fatalf("err %v, want ErrInvalid", err)
			}
		})
	}
}
