package keyring_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/sqlite"
)

// openRing opens a SQLite instance in a temporary folder and a ring on it.
func openRing(t *testing.T, m *keyring.Master) (*keyring.Ring, *store.Core) {
	t.Helper()
	return openRingTB(t, m)
}

func openRingTB(t testing.TB, m *keyring.Master) (*keyring.Ring, *store.Core) {
	t.Helper()
	b, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	core := store.NewCore(b)
	return keyring.New(core, m), core
}

// TestMasterFile: LoadOrCreate makes a 0600 file in the documented text
// format, Load reads the same key, Add keeps old keys and makes the new
// one current, and a missing file is an error naming the path.
func TestMasterFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "master.key")
	m, created, err := keyring.LoadOrCreate(path)
	if err != nil || !created {
		t.Fatalf("LoadOrCreate: %v %v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o600 {
		t.Errorf("mode %o, want 0600", got)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), "SECRET") || !strings.Contains(string(data), "coffer-master-key v1 "+m.Current()+" ") {
		t.Errorf("file does not say it is a secret or lacks the key line:\n%s", data)
	}
	m2, created, err := keyring.LoadOrCreate(path)
	if err != nil || created || m2.Current() != m.Current() {
		t.Fatalf("second LoadOrCreate: created %v, %v, ids %s %s", created, err, m2.Current(), m.Current())
	}
	old := m.Current()
	id, err := m.Add()
	if err != nil || id == old {
		t.Fatalf("Add: %q %v", id, err)
	}
	m3, err := keyring.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m3.IDs(), []string{old, id}; !slices.Equal(got, want) {
		t.Errorf("ids after Add: %v, want %v", got, want)
	}
	if m3.Current() != id {
		t.Errorf("current %s, want %s", m3.Current(), id)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode after Add %o", st.Mode().Perm())
	}
	// m2 learns the new key from the file when asked for it.
	if !m2.Has(id) {
		t.Error("a Master loaded before Add does not find the new key in the file")
	}
	missing := filepath.Join(dir, "none.key")
	if _, err := keyring.Load(missing); err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(missing) = %v, want an error naming %s", err, missing)
	}
}

// TestMasterFileMistakes: damaged files are refused with the path and
// line, and never with key material in the message.
func TestMasterFileMistakes(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 31))
	for name, body := range map[string]string{
		"empty":     "# nothing\n",
		"version":   "coffer-master-key v9 mk0011223344556677 2026-01-01T00:00:00Z " + key + "\n",
		"short key": "coffer-master-key v1 mk0011223344556677 2026-01-01T00:00:00Z " + short + "\n",
		"bad id":    "coffer-master-key v1 zz 2026-01-01T00:00:00Z " + key + "\n",
		"twice":     "coffer-master-key v1 mk0011223344556677 2026-01-01T00:00:00Z " + key + "\ncoffer-master-key v1 mk0011223344556677 2026-01-01T00:00:00Z " + key + "\n",
		"fields":    "coffer-master-key v1 mk0011223344556677 " + key + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "master.key")
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := keyring.Load(path)
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), key[:20]) || strings.Contains(err.Error(), short[:20]) {
				t.Errorf("error %q: want the path and no key material", err)
			}
			if _, _, err := keyring.LoadOrCreate(path); err == nil {
				t.Error("LoadOrCreate replaced a damaged file")
			}
		})
	}
}

// TestLoadOrCreateRace: processes creating the file at once end up with
// one key.
func TestLoadOrCreateRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, _, err := keyring.LoadOrCreate(path)
			errs[i] = err
			if err == nil {
				ids[i] = m.Current()
			}
		}()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("creator %d: %s %v, want %s", i, ids[i], errs[i], ids[0])
		}
	}
}

// TestLayout: a sealed value is version 1, an 8-byte key id, a 24-byte
// nonce, then the ciphertext and its 16-byte tag; two seals of one value
// differ.
func TestLayout(t *testing.T) {
	ring, _ := openRing(t, keyring.ForTests())
	ctx := context.Background()
	pt := []byte("attack at dawn")
	a, err := ring.Seal(ctx, keyring.Instance, "x:1", pt)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ring.Seal(ctx, keyring.Instance, "x:1", pt)
	if len(a) != len(pt)+keyring.Overhead || keyring.Overhead != 1+8+24+16 {
		t.Fatalf("len %d, overhead %d", len(a), keyring.Overhead)
	}
	if a[0] != 1 || !bytes.Equal(a[1:9], b[1:9]) || bytes.Equal(a[9:33], b[9:33]) || bytes.Equal(a, b) {
		t.Errorf("layout: version %d, same key id %v, same nonce %v", a[0], bytes.Equal(a[1:9], b[1:9]), bytes.Equal(a[9:33], b[9:33]))
	}
	if bytes.Contains(a, pt) {
		t.Error("the plaintext is in the sealed value")
	}
}

// TestNoncesUnique seals 10^6 values through the real path and finds no
// nonce twice.
func TestNoncesUnique(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	ring, _ := openRing(t, keyring.ForTests())
	ctx := context.Background()
	nonces := make([][24]byte, n)
	for i := range nonces {
		s, err := ring.Seal(ctx, keyring.Instance, "n", nil)
		if err != nil {
			t.Fatal(err)
		}
		copy(nonces[i][:], s[9:33])
	}
	slices.SortFunc(nonces, func(a, b [24]byte) int { return bytes.Compare(a[:], b[:]) })
	for i := 1; i < len(nonces); i++ {
		if nonces[i] == nonces[i-1] {
			t.Fatalf("nonce %x appears twice in %d seals", nonces[i], n)
		}
	}
}

// TestOpenText: SealString values carry the version prefix; a value in
// clear does not open.
func TestOpenText(t *testing.T) {
	ring, _ := openRing(t, keyring.ForTests())
	ctx := context.Background()
	s, err := ring.SealString(ctx, keyring.Instance, "sso:1", "hunter2")
	if err != nil {
		t.Fatal(err)
	}
	if !keyring.IsSealed(s) || strings.Contains(s, "hunter2") {
		t.Fatalf("sealed text %q", s)
	}
	if got, err := ring.OpenString(ctx, keyring.Instance, "sso:1", s); err != nil || got != "hunter2" {
		t.Fatalf("OpenString = %q, %v", got, err)
	}
	if keyring.IsSealed("hunter2") {
		t.Error("clear text taken as sealed")
	}
	if _, err := ring.OpenString(ctx, keyring.Instance, "sso:1", "hunter2"); coffer.ErrorCode(err) != coffer.EINTEGRITY {
		t.Errorf("OpenString(clear) = %v, want %s", err, coffer.EINTEGRITY)
	}
	if _, err := ring.OpenString(ctx, keyring.Instance, "sso:1", s[:len(s)-1]+"!"); coffer.ErrorCode(err) != coffer.EINTEGRITY {
		t.Errorf("OpenString(bad base64) = %v, want %s", err, coffer.EINTEGRITY)
	}
}

// TestForeignMaster: a ring whose master does not hold the key that
// wrapped a data key cannot open, and Check names the missing key.
func TestForeignMaster(t *testing.T) {
	ctx := context.Background()
	m1, _ := keyring.Generate()
	ring, core := openRing(t, m1)
	s, err := ring.Seal(ctx, keyring.Instance, "a", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := keyring.Generate()
	other := keyring.New(core, m2)
	if _, err := other.Open(ctx, keyring.Instance, "a", s); coffer.ErrorCode(err) != coffer.EINTEGRITY {
		t.Errorf("Open with a foreign master = %v, want %s", err, coffer.EINTEGRITY)
	}
	if err := other.Check(ctx); err == nil || !strings.Contains(err.Error(), m1.Current()) {
		t.Errorf("Check = %v, want the missing id %s", err, m1.Current())
	}
	if err := ring.Check(ctx); err != nil {
		t.Errorf("Check with the right master: %v", err)
	}
}

// BenchmarkSeal and BenchmarkOpen measure the envelope on values of a
// secret's size and of a 64 KiB chunk, with the data key in memory.
func BenchmarkSeal(b *testing.B) {
	for _, size := range []int{32, 64 << 10} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			ring, _ := openRingTB(b, keyring.ForTests())
			ctx := context.Background()
			pt := make([]byte, size)
			if _, err := ring.Seal(ctx, keyring.Instance, "bench", pt); err != nil { // creates the data key
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := ring.Seal(ctx, keyring.Instance, "bench", pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, size := range []int{32, 64 << 10} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			ring, _ := openRingTB(b, keyring.ForTests())
			ctx := context.Background()
			sealed, err := ring.Seal(ctx, keyring.Instance, "bench", make([]byte, size))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := ring.Open(ctx, keyring.Instance, "bench", sealed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestConcurrentAdd: processes adding master keys to one file at once
// lose none of them.
func TestConcurrentAdd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	first, _, err := keyring.LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := keyring.Load(path)
			if err == nil {
				ids[i], err = m.Add()
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got := mustLoadIDs(t, path)
	if len(got) != n+1 || got[0] != first.Current() {
		t.Fatalf("file holds %d keys %v, want %d", len(got), got, n+1)
	}
	for _, id := range ids {
		if !slices.Contains(got, id) {
			t.Errorf("key %s lost", id)
		}
	}
}

func mustLoadIDs(t *testing.T, path string) []string {
	t.Helper()
	m, err := keyring.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m.IDs()
}

// TestRotateRefusesLostMasterKey: a rotation whose new master key is no
// longer in the file (another process rewrote it) changes nothing.
func TestRotateRefusesLostMasterKey(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "master.key")
	m, _, err := keyring.LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	ring, core := openRing(t, m)
	sealed, err := ring.Seal(ctx, keyring.Instance, "a", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Add(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, before, 0o600); err != nil { // the new key is gone from the file
		t.Fatal(err)
	}
	if _, err := ring.Rotate(ctx); err == nil {
		t.Fatal("rotated under a master key the file does not hold")
	}
	fromFile, err := keyring.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	fresh := keyring.New(core, fromFile)
	if err := fresh.Check(ctx); err != nil {
		t.Errorf("after the refused rotation: %v", err)
	}
	if _, err := fresh.Open(ctx, keyring.Instance, "a", sealed); err != nil {
		t.Errorf("after the refused rotation, the file's key opens nothing: %v", err)
	}
}
