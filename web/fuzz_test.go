package web

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzCleanFileName: whatever a client sends as a name, what is kept is safe in a header, a log
// line and a path segment.
func FuzzCleanFileName(f *testing.F) {
	for _, s := range []string{"a.pdf", `..\..\x`, "a\x00b", "ファイル.png", strings.Repeat("я", 300), "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := cleanFileName(in)
		if err != nil {
			if utf8.ValidString(in) {
				t.Fatalf("cleanFileName(%q) refused valid UTF-8: %v", in, err)
			}
			return
		}
		if got == "" || len(got) > 255 || !utf8.ValidString(got) || strings.ContainsAny(got, `/\`) {
			t.Fatalf("cleanFileName(%q) = %q", in, got)
		}
		if strings.IndexFunc(got, unicode.IsControl) >= 0 {
			t.Fatalf("cleanFileName(%q) = %q keeps a control character", in, got)
		}
		cd := contentDisposition("attachment", got)
		if strings.ContainsAny(cd, "\r\n") || !utf8.ValidString(cd) || strings.IndexFunc(cd, func(r rune) bool { return r > 0x7e }) >= 0 {
			t.Fatalf("Content-Disposition for %q is not a clean ASCII header: %q", got, cd)
		}
	})
}

// FuzzDecodeCursor: a cursor from a client either decodes or is a 400, never a panic.
func FuzzDecodeCursor(f *testing.F) {
	f.Add("")
	f.Add("MjAyNi0xMS0yM1QxMDowMDowMFogMDFqZHg")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			if status, _, _ := classify(err); status != 400 {
				t.Fatalf("decodeCursor(%q) error maps to %d, want 400", s, status)
			}
			return
		}
		if s != "" && c.ID == "" {
			t.Fatalf("decodeCursor(%q) gave a cursor without an id", s)
		}
	})
}
