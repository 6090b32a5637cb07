package sqlite

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestDecodeStringsAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range [][]string{
		{}, {"vip"}, {"refund", "vip"}, {"a,b", "c"}, {`say "hi"`}, {"ünïcode", "标签"}, {"<b>&amp;"}, {" spaced ", ""},
	} {
		enc, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeStrings[string](string(enc))
		if err != nil || !slices.Equal(got, in) {
			t.Errorf("decodeStrings(%s) = %q, %v; want %q", enc, got, err, in)
		}
	}
	for _, bad := range []string{`["a"`, `["a",]`, `["a" "b"]`, `[1]`, `["a`, `nope`} {
		if got, err := decodeStrings[string](bad); err == nil {
			t.Errorf("decodeStrings(%s) = %q, want an error", bad, got)
		}
	}
}
