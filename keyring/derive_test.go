package keyring_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
)

// TestDerive: a derived key is 32 bytes, the same for a scope and purpose
// across rings and rotations, different for another purpose or scope, and
// gone once the scope is shredded.
func TestDerive(t *testing.T) {
	ctx := context.Background()
	m, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	ring, core := openRing(t, m)
	nb := coffer.NewID(coffer.PrefixNotebook)
	a, err := ring.Derive(ctx, nb, "backup blob ids")
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 32 {
		t.Fatalf("derived %d bytes", len(a))
	}
	again, err := keyring.New(core, m).Derive(ctx, nb, "backup blob ids")
	if err != nil || !bytes.Equal(a, again) {
		t.Fatalf("another ring derives another key: %v", err)
	}
	other, _ := ring.Derive(ctx, nb, "other")
	if bytes.Equal(a, other) {
		t.Error("two purposes give one key")
	}
	nb2 := coffer.NewID(coffer.PrefixNotebook)
	b, _ := ring.Derive(ctx, nb2, "backup blob ids")
	if bytes.Equal(a, b) {
		t.Error("two scopes give one key")
	}
	if _, err := m.Add(); err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := ring.Derive(ctx, nb, "backup blob ids")
	if err != nil || !bytes.Equal(a, after) {
		t.Fatalf("the derived key changed with a rotation: %v", err)
	}
	if err := core.Write(ctx, core.Inst, "shred", func(tx *store.WriteTx) error { return ring.ShredTx(ctx, tx, nb) }); err != nil {
		t.Fatal(err)
	}
	ring.Forget(nb)
	if k, err := ring.Derive(ctx, nb, "backup blob ids"); coffer.ErrorCode(err) != coffer.EINTEGRITY {
		t.Errorf("after shredding: %x, %v; want EINTEGRITY", k, err)
	}
}

// TestKeyID: KeyID names the data key in a sealed value's header.
func TestKeyID(t *testing.T) {
	ctx := context.Background()
	ring, _ := openRing(t, keyring.ForTests())
	s1, _ := ring.Seal(ctx, "a", "x", []byte("1"))
	s2, _ := ring.Seal(ctx, "a", "y", []byte("2"))
	s3, _ := ring.Seal(ctx, "b", "x", []byte("3"))
	if keyring.KeyID(s1) == "" || keyring.KeyID(s1) != keyring.KeyID(s2) || keyring.KeyID(s1) == keyring.KeyID(s3) {
		t.Errorf("key ids %q %q %q", keyring.KeyID(s1), keyring.KeyID(s2), keyring.KeyID(s3))
	}
	if keyring.KeyID([]byte("short")) != "" {
		t.Error("a key id for a value that is not sealed")
	}
}
