package store

import (
	"reflect"
	"testing"
	"time"
)

// TestTTLCachePutIf: a row loaded while something was dropped from the
// cache may be the old one and is not kept; otherwise it is.
func TestTTLCachePutIf(t *testing.T) {
	c := NewTTLCache[string, int]()
	now := time.Now()
	gen := c.Gen()
	c.Drop(func(k string, _ int) bool { return k == "other" })
	c.PutIf("a", 1, now, gen)
	if _, ok := c.Get("a", now); ok {
		t.Fatal("PutIf kept an entry loaded before a Drop")
	}
	c.PutIf("a", 2, now, c.Gen())
	if v, ok := c.Get("a", now); !ok || v != 2 {
		t.Fatalf("Get = %v, %v; want 2 kept", v, ok)
	}
}

// TestSharedTTL: entries of a shared database's caches live
// SharedCacheTTL, others cacheTTL.
func TestSharedTTL(t *testing.T) {
	now := time.Now()
	own, shared := NewSharedTTLCache[string, int](&DB{}), NewSharedTTLCache[string, int](&DB{Shared: true})
	own.Put("a", 1, now)
	shared.Put("a", 1, now)
	later := now.Add(cacheTTL + time.Millisecond)
	if _, ok := own.Get("a", later); ok {
		t.Error("an own database's entry outlived cacheTTL")
	}
	if _, ok := shared.Get("a", later); !ok {
		t.Error("a shared database's entry did not outlive cacheTTL")
	}
	if _, ok := shared.Get("a", now.Add(SharedCacheTTL+time.Millisecond)); ok {
		t.Error("a shared database's entry outlived SharedCacheTTL")
	}
}

// fakeShared is a shared backend that can send invalidations.
type fakeShared struct {
	Backend
	inst    *DB
	deliver func([]string)
	up      func(bool)
}

func (f *fakeShared) Instance() *DB { return f.inst }
func (f *fakeShared) WatchInvalidations(deliver func([]string), up func(bool)) {
	f.deliver, f.up = deliver, up
}

// ownBackend is a backend of this process's own.
type ownBackend struct{ Backend }

func (ownBackend) Instance() *DB { return &DB{} }

// TestInvalidationsGate: on a shared database caches are closed until the
// backend listens and as soon as it stops, and each change of state drops
// everything; invalidations reach subscribers as kind and id. On a
// database of this process's own the gate is always open.
func TestInvalidationsGate(t *testing.T) {
	if !NewInvalidations(ownBackend{}).Usable() {
		t.Error("the caches of an own database are closed")
	}
	var nilGate *Invalidations
	if nilGate.Usable() {
		t.Error("no gate lets caches serve")
	}
	f := &fakeShared{inst: &DB{Shared: true}}
	v := NewInvalidations(f)
	var got []string
	v.Subscribe(func(kind, id string) { got = append(got, kind+"|"+id) })
	if v.Usable() {
		t.Fatal("caches of a shared database serve before the backend listens")
	}
	f.up(true)
	if !v.Usable() {
		t.Fatal("caches closed while the backend listens")
	}
	f.deliver([]string{"session:ses_1", "access:1"})
	f.up(false)
	if v.Usable() {
		t.Fatal("caches serve after the listener was lost")
	}
	want := []string{"|", "session|ses_1", "access|1", "|"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("subscriber got %q, want %q", got, want)
	}
}
