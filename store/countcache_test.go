package store

import (
	"testing"
	"time"
)

// TestCountKeyDistinct checks that queries that differ in their version,
// text, or any argument's value or type never share a key.
func TestCountKeyDistinct(t *testing.T) {
	type q struct {
		v    uint64
		sql  string
		args []any
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	qs := []q{
		{1, "SELECT count(*) FROM t WHERE a = ?", []any{"x"}},
		{2, "SELECT count(*) FROM t WHERE a = ?", []any{"x"}},
		{1, "SELECT count(*) FROM t WHERE b = ?", []any{"x"}},
		{1, "SELECT count(*) FROM t WHERE a = ?", []any{"y"}},
		{1, "q", []any{"ab", "c"}},
		{1, "q", []any{"a", "bc"}},
		{1, "q", []any{"abc"}},
		{1, "q", []any{int64(1)}},
		{1, "q", []any{"1"}},
		{1, "q", []any{float64(1)}},
		{1, "q", []any{true}},
		{1, "q", []any{false}},
		{1, "q", []any{int64(0)}},
		{1, "q", []any{nil}},
		{1, "q", []any{""}},
		{1, "q", []any{[]byte("")}},
		{1, "q", []any{[]byte("1")}},
		{1, "q", []any{at}},
		{1, "q", []any{at.Add(1)}},
		{1, "q", []any{at.In(time.FixedZone("X", 3600))}},
		{1, "q", nil},
		{1, "q?", nil},
	}
	seen := map[[32]byte]int{}
	for i, c := range qs {
		k, ok := countKey(c.v, c.sql, c.args)
		if !ok {
			t.Fatalf("query %d: no key", i)
		}
		if j, dup := seen[k]; dup {
			t.Errorf("queries %d and %d share a key: %+v, %+v", j, i, qs[j], c)
		}
		seen[k] = i
		if k2, _ := countKey(c.v, c.sql, c.args); k2 != k {
			t.Errorf("query %d: two keys", i)
		}
	}
	if k1, _ := countKey(1, "q", []any{int(7)}); k1 != func() [32]byte { k, _ := countKey(1, "q", []any{int64(7)}); return k }() {
		t.Error("int and int64 of one value (bound alike) have different keys")
	}
	if _, ok := countKey(1, "q", []any{struct{}{}}); ok {
		t.Error("an argument of an unknown type has a key")
	}
}

// TestCountCacheVersions checks the data version around a commit and
// that totals are kept for the newest version only.
func TestCountCacheVersions(t *testing.T) {
	db := &DB{}
	v, ok := db.stableVersion()
	if !ok {
		t.Fatal("no commit in progress, yet the version is not stable")
	}
	_ = db.committing(func() error {
		if _, ok := db.stableVersion(); ok {
			t.Error("a commit is in progress, yet the version is stable")
		}
		if db.versionUnchanged(v) {
			t.Error("a commit began, yet the version is unchanged")
		}
		return nil
	})
	v2, ok := db.stableVersion()
	if !ok || v2 == v {
		t.Fatalf("after a commit: version %d (stable %v), before %d", v2, ok, v)
	}
	k := func(v uint64) [32]byte { k, _ := countKey(v, "q", nil); return k }
	db.storeCount(v2, k(v2), 5)
	if n, ok := db.cachedCount(v2, k(v2)); !ok || n != 5 {
		t.Fatalf("cached %d %v, want 5", n, ok)
	}
	db.storeCount(v, k(v), 4) // older: ignored
	if _, ok := db.cachedCount(v, k(v)); ok {
		t.Error("a total of an older version was kept")
	}
	if n, ok := db.cachedCount(v2, k(v2)); !ok || n != 5 {
		t.Errorf("the newer total went: %d %v", n, ok)
	}
	db.storeCount(v2+2, k(v2+2), 6)
	if _, ok := db.cachedCount(v2, k(v2)); ok {
		t.Error("a total of an older version outlived a newer one")
	}
	for i := 0; i < countCacheMax+10; i++ {
		key, _ := countKey(v2+2, "q", []any{int64(i)})
		db.storeCount(v2+2, key, int64(i))
	}
	if n := len(db.counts.m); n > countCacheMax {
		t.Errorf("%d totals kept, at most %d", n, countCacheMax)
	}
}

// TestCountCacheShared checks that a database other processes change too
// never uses the cache: its stamp is the zero one, under which Total
// neither serves nor keeps a total.
func TestCountCacheShared(t *testing.T) {
	if st := (&DB{Shared: true}).CountStamp(); st.ok {
		t.Error("a shared database gave a usable stamp")
	}
	if st := (&DB{}).CountStamp(); !st.ok {
		t.Error("a database of this process's own, idle, gave no usable stamp")
	}
}
