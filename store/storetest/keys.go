package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/all"
)

// KeysOpener opens a fresh, empty instance; Again opens a second handle
// on the same instance (another node), as a backend of its own.
type KeysOpener struct {
	Open  func(t *testing.T) store.Backend
	Again func(t *testing.T, b store.Backend) store.Backend
}

// Keys runs the keyring suite: the envelope (round trip, any flipped bit,
// a value moved to another object or scope, unknown keys), the race of
// two nodes creating a scope's first key, rotation with a new master key
// while another node runs (TOTP login, single sign-on and webhook signing
// still work, old values open), crypto-shredding of a deleted notebook,
// and the sealing of secrets left in clear by an older version.
func Keys(t *testing.T, o KeysOpener) {
	t.Run("Envelope", func(t *testing.T) { t.Parallel(); testKeysEnvelope(t, o) })
	t.Run("CreateRace", func(t *testing.T) { t.Parallel(); testKeysRace(t, o) })
	t.Run("Rotate", func(t *testing.T) { t.Parallel(); testKeysRotate(t, o) })
	t.Run("Shred", func(t *testing.T) { t.Parallel(); testKeysShred(t, o) })
	t.Run("Legacy", func(t *testing.T) { t.Parallel(); testKeysLegacy(t, o) })
}

func testKeysEnvelope(t *testing.T, o KeysOpener) {
	ctx := context.Background()
	b := o.Open(t)
	s := all.New(b, keyring.ForTests())
	r := s.Ring()
	nb := coffer.NewID(coffer.PrefixNotebook)
	for _, size := range []int{0, 1, 31, 1000} {
		pt := make([]byte, size)
		rand.Read(pt)
		for _, scope := range []string{keyring.Instance, nb} {
			sealed, err := r.Seal(ctx, scope, "obj:1", pt)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Open(ctx, scope, "obj:1", sealed)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("round trip of %d bytes in scope %q: %v", size, scope, err)
			}
			// A fresh ring (another process) reads the key from the database.
			if got, err := all.New(b, keyring.ForTests()).Ring().Open(ctx, scope, "obj:1", sealed); err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("round trip through a fresh ring: %v", err)
			}
		}
	}
	sealed, err := r.Seal(ctx, nb, "file:abc", []byte("the quick brown fox"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(sealed) * 8 {
		c := bytes.Clone(sealed)
		c[i/8] ^= 1 << (i % 8)
		if _, err := r.Open(ctx, nb, "file:abc", c); coffer.ErrorCode(err) != coffer.EINTEGRITY {
			t.Fatalf("bit %d flipped: %v, want %s", i, err, coffer.EINTEGRITY)
		}
	}
	for name, open := range map[string]func() error{
		"other object": func() error { _, err := r.Open(ctx, nb, "file:abd", sealed); return err },
		"other notebook": func() error {
			_, err := r.Open(ctx, coffer.NewID(coffer.PrefixNotebook), "file:abc", sealed)
			return err
		},
		"instance scope": func() error { _, err := r.Open(ctx, keyring.Instance, "file:abc", sealed); return err },
		"truncated":      func() error { _, err := r.Open(ctx, nb, "file:abc", sealed[:len(sealed)-1]); return err },
		"header only":    func() error { _, err := r.Open(ctx, nb, "file:abc", sealed[:33]); return err },
		"empty":          func() error { _, err := r.Open(ctx, nb, "file:abc", nil); return err },
		"extended":       func() error { _, err := r.Open(ctx, nb, "file:abc", append(bytes.Clone(sealed), 0)); return err },
		"unknown key": func() error {
			c := bytes.Clone(sealed)
			rand.Read(c[1:9])
			_, err := r.Open(ctx, nb, "file:abc", c)
			return err
		},
	} {
		if err := open(); coffer.ErrorCode(err) != coffer.EINTEGRITY {
			t.Errorf("%s: %v, want %s", name, err, coffer.EINTEGRITY)
		}
	}
}

// countKeys counts a scope's data keys in state ("" for any).
func countKeys(t *testing.T, b store.Backend, scope, state string) int {
	t.Helper()
	inst := b.Instance()
	q, args := "SELECT count(*) FROM "+inst.Prefix+"data_keys WHERE scope = ?", []any{scope}
	if state != "" {
		q, args = q+" AND state = ?", append(args, state)
	}
	var n int
	if err := inst.R.QueryRow(b.Dialect().Rebind(q), args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func testKeysRace(t *testing.T, o KeysOpener) {
	ctx := context.Background()
	a := o.Open(t)
	b := o.Again(t, a)
	rings := []*keyring.Ring{all.New(a, keyring.ForTests()).Ring(), all.New(b, keyring.ForTests()).Ring()}
	scope := coffer.NewID(coffer.PrefixNotebook)
	var wg sync.WaitGroup
	sealed := make([][]byte, 16)
	errs := make([]error, 16)
	for i := range sealed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sealed[i], errs[i] = rings[i%2].Seal(ctx, scope, "race", []byte{byte(i)})
		}()
	}
	wg.Wait()
	for i := range sealed {
		if errs[i] != nil {
			t.Fatalf("seal %d: %v", i, errs[i])
		}
		if !bytes.Equal(sealed[i][1:9], sealed[0][1:9]) {
			t.Errorf("seal %d used another key than seal 0", i)
		}
		for _, r := range rings {
			if got, err := r.Open(ctx, scope, "race", sealed[i]); err != nil || !bytes.Equal(got, []byte{byte(i)}) {
				t.Errorf("open %d: %v", i, err)
			}
		}
	}
	if n := countKeys(t, a, scope, ""); n != 1 {
		t.Errorf("%d data keys for the scope, want 1", n)
	}
}

func testKeysRotate(t *testing.T, o KeysOpener) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "master.key")
	mA, _, err := keyring.LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mB, err := keyring.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a := o.Open(t)
	b := o.Again(t, a)
	sA, err := all.Open(ctx, a, mA)
	if err != nil {
		t.Fatal(err)
	}
	sB, err := all.Open(ctx, b, mB)
	if err != nil {
		t.Fatal(err)
	}
	f := newSecretsFixture(t, sA)
	f.check(t, sB)
	oldInst, err := sA.Ring().Seal(ctx, keyring.Instance, "x:1", []byte("old instance value"))
	if err != nil {
		t.Fatal(err)
	}
	oldNB, err := sA.Ring().Seal(ctx, f.nb, "x:2", []byte("old notebook value"))
	if err != nil {
		t.Fatal(err)
	}

	// Node B has the notebook's current key in memory.
	if _, err := sB.Ring().Seal(ctx, f.nb, "x:0", []byte("b")); err != nil {
		t.Fatal(err)
	}
	newID, err := mA.Add()
	if err != nil {
		t.Fatal(err)
	}
	rot, err := sA.Ring().Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rot.Master != newID || rot.Rewrapped != 2 || rot.Scopes != 2 {
		t.Errorf("rotation = %+v, want master %s, 2 keys re-wrapped, 2 scopes", rot, newID)
	}
	if evs := allEntries(t, auditOperator(t, sA), sA, "", coffer.AuditFilter{Kind: coffer.EventKeysRotated}); len(evs) != 1 || !strings.Contains(evs[0].Detail, newID) {
		t.Errorf("audit events of the rotation: %+v", evs)
	}
	inst := a.Instance()
	var n int
	if err := inst.R.QueryRow(a.Dialect().Rebind("SELECT count(*) FROM "+inst.Prefix+"data_keys WHERE master_id <> ?"), newID).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d data keys not wrapped by the new master key (%v)", n, err)
	}
	for _, scope := range []string{keyring.Instance, f.nb} {
		if c, o := countKeys(t, a, scope, "current"), countKeys(t, a, scope, "old"); c != 1 || o != 1 {
			t.Errorf("scope %q: %d current and %d old keys, want 1 and 1", scope, c, o)
		}
	}
	fresh, err := sA.Ring().Seal(ctx, f.nb, "x:3", []byte("new"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(fresh[1:9], oldNB[1:9]) {
		t.Error("a value sealed after rotation uses the old data key")
	}
	// Node B holds neither the new master key nor the new data keys: it
	// reads both (the key file, the database) when a value needs them.
	for _, v := range []struct {
		scope, aad string
		sealed     []byte
	}{{keyring.Instance, "x:1", oldInst}, {f.nb, "x:2", oldNB}, {f.nb, "x:3", fresh}} {
		for name, r := range map[string]*keyring.Ring{"A": sA.Ring(), "B": sB.Ring(), "fresh": all.New(a, mB).Ring()} {
			if _, err := r.Open(ctx, v.scope, v.aad, v.sealed); err != nil {
				t.Errorf("node %s opens %s after rotation: %v", name, v.aad, err)
			}
		}
	}
	// Node B seals with the new current key: at once where it hears the
	// invalidation the rotation sent (a shared database), after the command
	// line's request to drop caches otherwise.
	if !b.Instance().Shared {
		sB.DropCaches()
	}
	newCurrent := fresh[1:9]
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := sB.Ring().Seal(ctx, f.nb, "x:4", []byte("b"))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(v[1:9], newCurrent) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node B still seals with the old data key 10 s after the rotation")
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.check(t, sB)
	f.check(t, sA)
	s2, err := all.Open(ctx, a, mustLoad(t, path))
	if err != nil {
		t.Fatalf("reopen with the rotated key file: %v", err)
	}
	f.check(t, s2)
	// The key file from before the rotation no longer opens the instance.
	oldFile := filepath.Join(t.TempDir(), "old.key")
	if err := os.WriteFile(oldFile, before, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := all.Open(ctx, a, mustLoad(t, oldFile)); err == nil || !bytes.Contains([]byte(err.Error()), []byte(newID)) {
		t.Errorf("open with the key file from before the rotation: %v, want a refusal naming %s", err, newID)
	}
}

func mustLoad(t *testing.T, path string) *keyring.Master {
	t.Helper()
	m, err := keyring.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testKeysShred(t *testing.T, o KeysOpener) {
	ctx := context.Background()
	b := o.Open(t)
	s := all.New(b, keyring.ForTests())
	uctx, _ := MustUser(t, s)
	nb := MustNotebook(t, uctx, s, "Doomed").ID
	keep := MustNotebook(t, uctx, s, "Kept").ID
	sealed, err := s.Ring().Seal(ctx, nb, "file:1", []byte("customer scan"))
	if err != nil {
		t.Fatal(err)
	}
	kept, err := s.Ring().Seal(ctx, keep, "file:2", []byte("other"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteNotebook(uctx, nb); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*keyring.Ring{"same": s.Ring(), "fresh": all.New(b, keyring.ForTests()).Ring()} {
		if _, err := r.Open(ctx, nb, "file:1", sealed); coffer.ErrorCode(err) != coffer.EINTEGRITY {
			t.Errorf("%s ring opens a deleted notebook's value: %v, want %s", name, err, coffer.EINTEGRITY)
		}
		if _, err := r.Open(ctx, keep, "file:2", kept); err != nil {
			t.Errorf("%s ring: another notebook's value: %v", name, err)
		}
	}
	if evs := allEntries(t, auditOperator(t, s), s, "", coffer.AuditFilter{Kind: coffer.EventKeysShredded}); len(evs) != 1 || !strings.Contains(evs[0].Detail, nb) {
		t.Errorf("audit events of the shredding: %+v", evs)
	}
	if c := countKeys(t, b, nb, "shredded"); c != 1 || countKeys(t, b, nb, "") != 1 {
		t.Errorf("%d shredded keys of %d, want 1 of 1", c, countKeys(t, b, nb, ""))
	}
	inst := b.Instance()
	var wrapped []byte
	if err := inst.R.QueryRow(b.Dialect().Rebind("SELECT wrapped FROM "+inst.Prefix+"data_keys WHERE scope = ?"), nb).Scan(&wrapped); err != nil || len(wrapped) != 0 {
		t.Errorf("a shredded key keeps %d wrapped bytes (%v)", len(wrapped), err)
	}
	// Rotation leaves shredded keys alone.
	if _, err := s.Ring().Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ring().Open(ctx, keep, "file:2", kept); err != nil {
		t.Errorf("after rotation: %v", err)
	}
}

func testKeysLegacy(t *testing.T, o KeysOpener) {
	ctx := context.Background()
	b := o.Open(t)
	m := keyring.ForTests()
	s := all.New(b, m)
	f := newSecretsFixture(t, s)
	// Write the secrets in clear, as a version before sealing did.
	inst := b.Instance()
	d := b.Dialect()
	_, dev := deviceKey(t, s)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"UPDATE " + inst.Prefix + "instance_secrets SET value = ? WHERE name = ?", []any{dev, "device_cookie"}},
		{"UPDATE " + inst.Prefix + "totp_secrets SET secret = ? WHERE user_id = ?", []any{f.totp, f.user.ID}},
		{"UPDATE " + inst.Prefix + "sso_providers SET client_secret = ? WHERE id = ?", []any{f.ssoSecret, f.provider}},
		{"DELETE FROM " + inst.Prefix + "instance_secrets WHERE name = ?", []any{"watch_secrets_sealed"}},
	} {
		if _, err := inst.W.ExecContext(ctx, d.Rebind(q.sql), q.args...); err != nil {
			t.Fatal(err)
		}
	}
	db, release, err := b.Notebook(ctx, f.nb)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.W.ExecContext(ctx, d.Rebind("UPDATE "+db.Prefix+"_watches SET secret = ? WHERE id = ?"), f.watch.Secret, f.watch.ID); err != nil {
		t.Fatal(err)
	}
	release()
	if totp, sso, watch := f.stored(t, b); totp != f.totp || sso != f.ssoSecret || watch != f.watch.Secret {
		t.Fatal("the clear values were not written")
	}

	s2, err := all.Open(ctx, b, m)
	if err != nil {
		t.Fatal(err)
	}
	totp, sso, watch := f.stored(t, b)
	for name, v := range map[string]string{"totp": totp, "sso": sso, "watch": watch} {
		if !keyring.IsSealed(v) {
			t.Errorf("%s secret still in clear after open", name)
		}
	}
	if stored, got := deviceKey(t, s2); !keyring.IsSealedBytes(stored) || !bytes.Equal(got, dev) {
		t.Error("the device key is not sealed after open, or changed")
	}
	f.check(t, s2)
	// Idempotent: a second open changes nothing.
	if _, err := all.Open(ctx, b, m); err != nil {
		t.Fatal(err)
	}
	if t2, s2v, w2 := f.stored(t, b); t2 != totp || s2v != sso || w2 != watch {
		t.Error("a second open sealed the secrets again")
	}
	n1, err := s2.Identity.SealClearSecrets(ctx)
	if err != nil || n1 != 0 {
		t.Errorf("SealClearSecrets again: %d, %v", n1, err)
	}
}
