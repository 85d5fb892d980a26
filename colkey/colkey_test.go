package colkey_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/colkey"
)

const pw = "a long column password"

func TestSealOpen(t *testing.T) {
	ctx := context.Background()
	e, k, err := colkey.New(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	if e.Memory < 19*1024 || e.Time < 2 || e.KDF != "argon2id" {
		t.Fatalf("weak parameters %+v", e)
	}
	cell := colkey.Cell{Notebook: "nbk_1", Table: "tbl_1", Record: "rec_1", Column: "col_1"}
	sealed := k.Seal(cell, []byte("secret text"))
	if bytes.Contains(sealed, []byte("secret text")) || len(sealed) != colkey.Overhead+len("secret text") || sealed[0] != colkey.Version {
		t.Fatalf("sealed = %x", sealed)
	}
	k2, err := colkey.Derive(ctx, e, pw)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k2.Open(cell, sealed)
	if err != nil || string(got) != "secret text" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	for _, other := range []colkey.Cell{
		{Notebook: "nbk_2", Table: "tbl_1", Record: "rec_1", Column: "col_1"},
		{Notebook: "nbk_1", Table: "tbl_2", Record: "rec_1", Column: "col_1"},
		{Notebook: "nbk_1", Table: "tbl_1", Record: "rec_2", Column: "col_1"},
		{Notebook: "nbk_1", Table: "tbl_1", Record: "rec_1", Column: "col_2"},
	} {
		if _, err := k2.Open(other, sealed); coffer.ErrorCode(err) != coffer.EINTEGRITY {
			t.Errorf("Open in %+v = %v; want integrity_failed", other, err)
		}
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 1
		if _, err := k2.Open(cell, bad); coffer.ErrorCode(err) != coffer.EINTEGRITY {
			t.Fatalf("flipped byte %d opened: %v", i, err)
		}
	}
	if _, err := k2.Open(cell, sealed[:len(sealed)-1]); coffer.ErrorCode(err) != coffer.EINTEGRITY {
		t.Fatalf("truncated opened: %v", err)
	}
	if _, err := colkey.Derive(ctx, e, pw+"x"); coffer.ErrorCode(err) != coffer.EKEY {
		t.Fatalf("wrong password: %v; want column_key_invalid", err)
	}
	if _, _, err := colkey.New(ctx, "short"); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Fatalf("short password: %v", err)
	}
}

func TestNoncesDiffer(t *testing.T) {
	_, k, err := colkey.New(context.Background(), pw)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	cell := colkey.Cell{Record: "rec_1"}
	for range 100_000 {
		n := string(k.Seal(cell, nil)[1:25])
		if seen[n] {
			t.Fatal("a nonce repeated")
		}
		seen[n] = true
	}
}

func TestParseHeader(t *testing.T) {
	id := coffer.NewID(coffer.PrefixColumn)
	got, err := colkey.ParseHeader([]string{id + ":pass:with:colons", " " + id + ":second wins"})
	if err != nil || got[id] != "second wins" {
		t.Fatalf("ParseHeader = %v, %v", got, err)
	}
	got, err = colkey.ParseHeader([]string{id + ":pass:with:colons"})
	if err != nil || got[id] != "pass:with:colons" {
		t.Fatalf("ParseHeader = %v, %v", got, err)
	}
	for _, bad := range [][]string{{"nocolon"}, {coffer.NewID(coffer.PrefixRecord) + ":x"}, {id + ":"}} {
		if _, err := colkey.ParseHeader(bad); coffer.ErrorCode(err) != coffer.EINVALID {
			t.Errorf("ParseHeader(%q) = %v; want invalid", bad, err)
		}
	}
}

func TestUnlocksExpire(t *testing.T) {
	u := colkey.NewUnlocks()
	now := time.Unix(1000, 0)
	u.Now = func() time.Time { return now }
	e, k, err := colkey.New(context.Background(), pw)
	if err != nil {
		t.Fatal(err)
	}
	u.Put("s:1", "nbk_1", "col_1", k)
	if got := u.Get("s:1", "nbk_1", "col_1"); got == nil || !got.Matches(e) {
		t.Fatal("unlocked key not kept")
	}
	if u.Get("s:2", "nbk_1", "col_1") != nil {
		t.Fatal("another session reads the key")
	}
	now = now.Add(colkey.DefaultUnlockTTL)
	if u.Get("s:1", "nbk_1", "col_1") != nil {
		t.Fatal("key kept past its time")
	}
	u.Put("s:1", "nbk_1", "col_1", k)
	u.Forget("nbk_1", "col_1")
	if u.Get("s:1", "nbk_1", "col_1") != nil {
		t.Fatal("Forget kept the key")
	}
}

// BenchmarkOpen80 opens an 80-byte value: the cost an unlocked read adds
// per cell.
func BenchmarkOpen80(b *testing.B) {
	_, k, err := colkey.New(context.Background(), pw)
	if err != nil {
		b.Fatal(err)
	}
	cell := colkey.Cell{Notebook: "nb_1", Table: "tbl_1", Record: "rec_1", Column: "col_1"}
	sealed := k.Seal(cell, bytes.Repeat([]byte("x"), 80))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Open(cell, sealed); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDerive is the argon2id derivation a request with the header
// pays per column (an unlock pays it once).
func BenchmarkDerive(b *testing.B) {
	e, _, err := colkey.New(context.Background(), pw)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := colkey.Derive(context.Background(), e, pw); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(coffer.NewID(coffer.PrefixColumn) + ":a password")
	f.Add("col_:x")
	f.Add(":")
	f.Fuzz(func(t *testing.T, v string) {
		got, err := colkey.ParseHeader([]string{v})
		if err != nil {
			if strings.Contains(err.Error(), v) && len(v) > 8 {
				t.Fatalf("the error echoes the header: %v", err)
			}
			return
		}
		for id, pw := range got {
			if !coffer.ValidID(coffer.PrefixColumn, id) || pw == "" {
				t.Fatalf("ParseHeader(%q) = %q:%q", v, id, pw)
			}
		}
	})
}
