package transfer_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/storetest"
)

// TestCopyDataKeys: coffer migrate carries the data keys, still wrapped by
// the master key: with the same master key the copy opens what the
// source sealed (instance and notebook scopes), and a deleted notebook's
// shredded key stays shredded.
func TestCopyDataKeys(t *testing.T) {
	ctx := context.Background()
	m, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	a := openSQLite(t)
	sa := all.New(a, m)
	uctx, _ := storetest.MustUser(t, sa)
	nb := storetest.MustNotebook(t, uctx, sa, "Kept")
	gone := storetest.MustNotebook(t, uctx, sa, "Gone")
	inst, err := sa.Ring().Seal(ctx, keyring.Instance, "x:1", []byte("instance secret"))
	if err != nil {
		t.Fatal(err)
	}
	inNB, err := sa.Ring().Seal(ctx, nb.ID, "x:2", []byte("notebook secret"))
	if err != nil {
		t.Fatal(err)
	}
	shredded, err := sa.Ring().Seal(ctx, gone.ID, "x:3", []byte("shredded secret"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sa.DeleteNotebook(uctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	dsts := []store.Backend{openSQLite(t)}
	if pgURL() != "" {
		dsts = append(dsts, openPostgres(t))
	}
	for _, b := range dsts {
		mustMigrate(t, a, b)
		d, err := all.Open(ctx, b, m)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []struct {
			scope, aad string
			sealed     []byte
			want       string
		}{{keyring.Instance, "x:1", inst, "instance secret"}, {nb.ID, "x:2", inNB, "notebook secret"}} {
			if got, err := d.Ring().Open(ctx, v.scope, v.aad, v.sealed); err != nil || !bytes.Equal(got, []byte(v.want)) {
				t.Errorf("%s: copy opens %q, %v", b.Dialect().Name(), got, err)
			}
		}
		if _, err := d.Ring().Open(ctx, gone.ID, "x:3", shredded); coffer.ErrorCode(err) != coffer.EINTEGRITY {
			t.Errorf("%s: the copy opens a shredded key's value: %v", b.Dialect().Name(), err)
		}
		other, _ := keyring.Generate()
		if _, err := all.Open(ctx, b, other); err == nil {
			t.Errorf("%s: the copy opens with another master key", b.Dialect().Name())
		}
	}
}
