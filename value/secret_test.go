package value_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/colkey"
	"github.com/cofferhq/coffer/value"
)

var (
	encrypted = &coffer.Column{ID: "col_e", Name: "E", Type: coffer.TypeEncrypted}
	password  = &coffer.Column{ID: "col_p", Name: "P", Type: coffer.TypePassword}
)

func TestSecretForms(t *testing.T) {
	st, err := value.FromJSON(encrypted, "plain text")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.(value.Plain); !ok {
		t.Fatalf("a plaintext write gives %T; want value.Plain for the service to seal", st)
	}
	if _, err := json.Marshal(st); err == nil {
		t.Fatal("an unsealed plaintext encodes as JSON")
	}
	st, err = value.FromJSON(password, "a password")
	h, _ := st.(string)
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "a password") {
		t.Fatalf("password stored as %q, %v", h, err)
	}
	out := value.ToJSON(password, h)
	if b, _ := json.Marshal(out); string(b) != `{"set":true}` {
		t.Fatalf("password reads %s", b)
	}
	if ok, err := value.VerifyPassword(t.Context(), h, "a password"); !ok || err != nil {
		t.Fatalf("verify: %v %v", ok, err)
	}
	// Back from history: the hash, never shown.
	hist := out.(value.PasswordHash).HistoryJSON()
	if got := string(value.ScrubHistory(hist)); got != `{"set":true}` {
		t.Fatalf("scrubbed history = %s", got)
	}
	var m map[string]any
	json.Unmarshal(hist, &m)
	if back, err := value.FromJSON(password, m); err != nil || back != h {
		t.Fatalf("history form back: %v %v", back, err)
	}
	for _, bad := range []map[string]any{
		{"set": true, "hash": "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdA$aGFzaA"}, // 4 GiB: refused
		{"set": true, "hash": "$argon2id$v=19$m=19456,t=200,p=1$c2FsdA$aGFzaA"},
		{"set": true, "hash": "plain"},
		{"set": false, "hash": h},
		{"set": true},
	} {
		if _, err := value.FromJSON(password, bad); err == nil {
			t.Errorf("FromJSON(%v) accepted", bad)
		}
	}
}

func FuzzSecretFromJSON(f *testing.F) {
	ok := colkey.Encode(append([]byte{colkey.Version}, make([]byte, colkey.Overhead+5)...))
	for _, s := range []string{`"x"`, `{"sealed":"` + ok + `"}`, `{"sealed":"` + ok + `","locked":true}`, `{"sealed":"AA=="}`,
		`{"sealed":1}`, `{"locked":false,"sealed":"` + ok + `"}`, `{"other":1}`, `{"hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}`, `[]`, `1`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d := json.NewDecoder(strings.NewReader(in))
		d.UseNumber()
		var v any
		if d.Decode(&v) != nil {
			return
		}
		st, err := value.FromJSON(encrypted, v)
		switch x := st.(type) {
		case nil:
		case value.Plain:
			if s, _ := v.(string); s != x.Text() {
				t.Fatalf("Plain %q from %s", x.Text(), in)
			}
		case string:
			b, ok := colkey.Decode(x)
			if !ok || !colkey.WellFormed(b) {
				t.Fatalf("stored %q is not a sealed value", x)
			}
			j, err := json.Marshal(value.ToJSON(encrypted, x))
			var back any
			if err != nil || json.Unmarshal(j, &back) != nil {
				t.Fatalf("ToJSON(%q): %s %v", x, j, err)
			}
			if again, err := value.FromJSON(encrypted, back); err != nil || again != x {
				t.Fatalf("round trip of %q: %v %v", x, again, err)
			}
		default:
			t.Fatalf("FromJSON(%s) = %T", in, st)
		}
		if err != nil && st != nil {
			t.Fatalf("value with an error: %v", err)
		}
		if _, isString := v.(string); !isString {
			if st, err := value.FromJSON(password, v); err == nil && st != nil {
				if h, _ := st.(string); !strings.HasPrefix(h, "$argon2id$") {
					t.Fatalf("password stored %q from %s", h, in)
				}
			}
		}
		_ = value.ScrubHistory([]byte(in))
	})
}
