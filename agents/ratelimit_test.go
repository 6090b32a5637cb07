package agents

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	l := NewLimiter(3, time.Minute)
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allowed("ip:1.2.3.4", t0); !ok {
			t.Fatalf("attempt %d refused before the limit", i+1)
		}
		l.Fail("ip:1.2.3.4", t0.Add(time.Duration(i)*time.Second))
	}
	ok, until := l.Allowed("ip:1.2.3.4", t0.Add(10*time.Second))
	if ok {
		t.Fatal("a fourth attempt within the window was allowed")
	}
	if want := t0.Add(time.Minute); !until.Equal(want) {
		t.Fatalf("retry at %v, want %v (when the oldest failure leaves the window)", until, want)
	}
	if ok, _ := l.Allowed("ip:5.6.7.8", t0); !ok {
		t.Fatal("another key is limited too")
	}
	if ok, _ := l.Allowed("ip:1.2.3.4", t0.Add(time.Minute+time.Second)); !ok {
		t.Fatal("still limited after the window passed")
	}
	l.Fail("acct:a@b.id", t0)
	l.Reset("acct:a@b.id")
	l.Fail("acct:a@b.id", t0)
	l.Fail("acct:a@b.id", t0)
	if ok, _ := l.Allowed("acct:a@b.id", t0); !ok {
		t.Fatal("Reset did not forget earlier failures")
	}
}
