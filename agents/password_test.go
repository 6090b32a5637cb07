package agents

import (
	"strings"
	"testing"
)

// Cheap parameters keep the tests fast; the format and the checks are the same.
var testArgon = Argon2idParams{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

func TestPasswordHashing(t *testing.T) {
	h, err := HashPassword("correct horse battery", testArgon)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not argon2id in PHC format", h)
	}
	h2, _ := HashPassword("correct horse battery", testArgon)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	tests := []struct {
		name     string
		password string
		hash     string
		want     bool
		wantErr  bool
	}{
		{"the right password", "correct horse battery", h, true, false},
		{"a wrong password", "correct horse battery!", h, false, false},
		{"empty password", "", h, false, false},
		{"bcrypt hashes are not accepted", "x", "$2a$10$abcdefghijklmnopqrstuu", false, true},
		{"truncated hash", "x", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA", false, true},
		{"wrong version", "x", strings.Replace(h, "v=19", "v=16", 1), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyPassword(tt.password, tt.hash)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("VerifyPassword = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
