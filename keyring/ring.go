// Package keyring owns every key of a Coffer instance. Master keys (a
// file outside the database, see Master) wrap data keys; data keys (one
// current key per scope: the instance, or a notebook) live wrapped in the
// instance database's data_keys table and seal values with
// XChaCha20-Poly1305 (golang.org/x/crypto; no cipher is written here).
//
// A sealed value is
//
//	version (1 byte, 1) | data key id (8 bytes) | nonce (24 random bytes) | ciphertext and tag (16 bytes)
//
// authenticated with the header, the scope and the object's id (aad) as
// associated data, so a value moved to another object or notebook, or
// changed in any bit, fails to open with coffer.EINTEGRITY.
//
// Rotation (Ring.Rotate) re-wraps every data key under a new master key
// and gives every scope a new current data key; old values still open,
// their key id in the header. Shredding (Ring.ShredTx) destroys a scope's
// data keys, so its values never open again from this database (a copy
// made before keeps the wrapped keys).
package keyring

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
)

// Instance is the scope of the instance's own secrets; a notebook's scope
// is its id.
const Instance = ""

// Layout of a sealed value.
const (
	version1  = 1
	idSize    = 8
	nonceSize = chacha20poly1305.NonceSizeX // 24
	headerLen = 1 + idSize + nonceSize
	// Overhead is how many bytes Seal adds to a plaintext.
	Overhead = headerLen + chacha20poly1305.Overhead
)

// States of a data key.
const (
	stateCurrent  = "current"
	stateOld      = "old"
	stateShredded = "shredded"
)

// currentTTL bounds how long a scope's current key is used from memory
// before the database is asked again: other nodes (or `coffer keys
// rotate`) may have made a new one current. It is a backstop: their
// changes arrive sooner as invalidations (Ring.Invalidate) on a shared
// database, or as a request to drop caches from the command line.
const currentTTL = store.SharedCacheTTL

// ErrIntegrity is the error of a value that does not open.
var errIntegrity = &coffer.Error{Code: coffer.EINTEGRITY, Message: "stored encrypted data failed its integrity check"}

// integrity returns an EINTEGRITY error for op with cause err (for logs).
func integrity(op string, err error) error {
	return &coffer.Error{Code: errIntegrity.Code, Message: errIntegrity.Message, Op: op, Err: err}
}

// dataKey is one unwrapped data key.
type dataKey struct {
	id    [idSize]byte
	scope string
	aead  cipher.AEAD
}

// currentKey is a scope's current key and when it was read.
type currentKey struct {
	key  *dataKey
	read time.Time
}

// Ring holds every data key it has used, unwrapped, in memory. It is safe
// for concurrent use.
type Ring struct {
	core *store.Core
	m    *Master

	mu      sync.RWMutex
	keys    map[[idSize]byte]*dataKey // by id
	current map[string]currentKey     // by scope

	// Audit, when set, records an event of the keyring in tx (a write
	// transaction on the instance database): rotations.
	Audit func(ctx context.Context, tx *store.WriteTx, kind, detail string) error
}

// New returns the ring of the instance database of core, its keys wrapped
// by m.
func New(core *store.Core, m *Master) *Ring {
	return &Ring{core: core, m: m, keys: map[[idSize]byte]*dataKey{}, current: map[string]currentKey{}}
}

// Master returns the ring's master keys.
func (r *Ring) Master() *Master { return r.m }

// Drop forgets which key is current in every scope (another process may
// have rotated); unwrapped keys stay, they never change.
func (r *Ring) Drop() {
	r.mu.Lock()
	clear(r.current)
	r.mu.Unlock()
}

// Invalidate forgets which key is current in every scope and the key id
// (hexadecimal, as stored), which another process changed: made, retired,
// re-wrapped or shredded. The key is read again from the database when a
// value needs it.
func (r *Ring) Invalidate(id string) {
	raw, err := parseID(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.current)
	if err == nil {
		delete(r.keys, raw)
	}
}

// Seal encrypts plaintext under scope's current data key (created on
// first use, wrapped by the master key, stored in the instance database).
// aad is the object's id (e.g. "totp:"+userID, "file:"+fileID); the same
// aad must be given to Open. Seal may write to the instance database: it
// must not be called inside a write transaction on it (use SealTx).
func (r *Ring) Seal(ctx context.Context, scope, aad string, plaintext []byte) ([]byte, error) {
	k, err := r.currentKey(ctx, nil, scope)
	if err != nil {
		return nil, err
	}
	return seal(k, scope, aad, plaintext)
}

// SealTx is Seal inside tx, a write transaction on the instance database.
func (r *Ring) SealTx(ctx context.Context, tx *store.WriteTx, scope, aad string, plaintext []byte) ([]byte, error) {
	k, err := r.currentKey(ctx, tx, scope)
	if err != nil {
		return nil, err
	}
	return seal(k, scope, aad, plaintext)
}

// seal seals plaintext under k.
func seal(k *dataKey, scope, aad string, plaintext []byte) ([]byte, error) {
	out := make([]byte, headerLen, headerLen+len(plaintext)+chacha20poly1305.Overhead)
	out[0] = version1
	copy(out[1:], k.id[:])
	nonce := out[1+idSize : headerLen]
	if _, err := rand.Read(nonce); err != nil {
		return nil, coffer.Internal("keyring.Seal", err)
	}
	return k.aead.Seal(out, nonce, plaintext, associated(out[:headerLen], scope, aad)), nil
}

// associated is the associated data of a value: its header, then the
// scope and the aad, each with its length, so no two (scope, aad) pairs
// give the same bytes.
func associated(header []byte, scope, aad string) []byte {
	b := make([]byte, 0, len(header)+8+len(scope)+len(aad))
	b = append(b, header...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(scope)))
	b = append(b, scope...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(aad)))
	return append(b, aad...)
}

// Open decrypts a value sealed by Seal for the same scope and aad. A
// value changed in any way, moved from another object or scope, or sealed
// under a key this instance does not hold (or has shredded) fails with
// coffer.EINTEGRITY.
func (r *Ring) Open(ctx context.Context, scope, aad string, sealed []byte) ([]byte, error) {
	return r.OpenIn(ctx, nil, scope, aad, sealed)
}

// Querier reads the instance database: a transaction on it, or a pool.
type Querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// OpenIn is Open reading a data key it does not hold through q, a
// transaction on the instance database (nil: a pool of its own). Call it
// inside a transaction on the instance database, whose connection may be
// the only one.
func (r *Ring) OpenIn(ctx context.Context, q Querier, scope, aad string, sealed []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, integrity("keyring.Open", errors.New("too short"))
	}
	if sealed[0] != version1 {
		return nil, integrity("keyring.Open", fmt.Errorf("unknown version %d", sealed[0]))
	}
	var id [idSize]byte
	copy(id[:], sealed[1:])
	k, err := r.keyByID(ctx, q, id)
	if err != nil {
		return nil, err
	}
	if k.scope != scope {
		return nil, integrity("keyring.Open", errors.New("the key belongs to another scope"))
	}
	pt, err := k.aead.Open(nil, sealed[1+idSize:headerLen], sealed[headerLen:], associated(sealed[:headerLen], scope, aad))
	if err != nil {
		return nil, integrity("keyring.Open", err)
	}
	return pt, nil
}

// textPrefix starts every value sealed by SealString.
const textPrefix = "coffer-sealed-v1:"

// SealString is Seal for text columns: the sealed value in base64 after
// a version prefix (IsSealed recognises it).
func (r *Ring) SealString(ctx context.Context, scope, aad, plaintext string) (string, error) {
	b, err := r.Seal(ctx, scope, aad, []byte(plaintext))
	if err != nil {
		return "", err
	}
	return textPrefix + base64.RawStdEncoding.EncodeToString(b), nil
}

// SealStringTx is SealString inside tx, a write transaction on the
// instance database.
func (r *Ring) SealStringTx(ctx context.Context, tx *store.WriteTx, scope, aad, plaintext string) (string, error) {
	b, err := r.SealTx(ctx, tx, scope, aad, []byte(plaintext))
	if err != nil {
		return "", err
	}
	return textPrefix + base64.RawStdEncoding.EncodeToString(b), nil
}

// OpenString opens a value of SealString. Anything else, a value in clear
// included, fails with coffer.EINTEGRITY.
func (r *Ring) OpenString(ctx context.Context, scope, aad, sealed string) (string, error) {
	return r.OpenStringIn(ctx, nil, scope, aad, sealed)
}

// OpenStringIn is OpenString reading keys through q (see OpenIn).
func (r *Ring) OpenStringIn(ctx context.Context, q Querier, scope, aad, sealed string) (string, error) {
	if !IsSealed(sealed) {
		return "", integrity("keyring.OpenString", errors.New("not a sealed value"))
	}
	b, err := base64.RawStdEncoding.DecodeString(sealed[len(textPrefix):])
	if err != nil {
		return "", integrity("keyring.OpenString", err)
	}
	pt, err := r.OpenIn(ctx, q, scope, aad, b)
	if err != nil {
		return "", err
	}
	return string(pt), nil
}

// IsSealed reports whether a text value was written by SealString (a
// value still in clear, from before secrets were sealed, is not).
func IsSealed(s string) bool { return strings.HasPrefix(s, textPrefix) }

// IsSealedBytes reports whether b has the layout of a value written by
// Seal (version 1 and at least the overhead long); a value still in
// clear of less than Overhead bytes, such as a 32-byte key, never has.
func IsSealedBytes(b []byte) bool { return len(b) >= Overhead && b[0] == version1 }

// querier runs queries in a transaction or on a pool.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// currentKey returns scope's current key, creating it when the scope has
// none. With tx, it reads and creates in tx and caches nothing it read
// there (tx may roll back).
func (r *Ring) currentKey(ctx context.Context, tx *store.WriteTx, scope string) (*dataKey, error) {
	now := time.Now()
	if tx == nil {
		r.mu.RLock()
		c, ok := r.current[scope]
		r.mu.RUnlock()
		if ok && now.Sub(c.read) < currentTTL {
			return c.key, nil
		}
	}
	var q querier = r.core.Inst.R
	if tx != nil {
		q = tx
	}
	k, err := r.readCurrent(ctx, q, scope)
	if err != nil {
		return nil, err
	}
	if k == nil {
		if tx != nil {
			if err := r.create(ctx, tx, scope); err != nil {
				return nil, r.core.Wrap("keyring.Seal", err)
			}
			k, err = r.readCurrent(ctx, tx, scope)
			if err == nil && k == nil {
				err = coffer.Internal("keyring.Seal", errors.New("no current key after creating one"))
			}
			return k, err
		}
		if err := r.core.Write(ctx, r.core.Inst, "keyring.Seal", func(tx *store.WriteTx) error {
			return r.create(ctx, tx, scope)
		}); err != nil {
			return nil, err
		}
		if k, err = r.readCurrent(ctx, r.core.Inst.R, scope); err != nil {
			return nil, err
		}
		if k == nil {
			return nil, coffer.Internal("keyring.Seal", errors.New("no current key after creating one"))
		}
	}
	if tx == nil {
		r.mu.Lock()
		r.current[scope] = currentKey{key: k, read: now}
		r.keys[k.id] = k
		r.mu.Unlock()
	}
	return k, nil
}

// readCurrent reads and unwraps scope's current key; nil when it has none.
func (r *Ring) readCurrent(ctx context.Context, q querier, scope string) (*dataKey, error) {
	var id, masterID string
	var wrapped []byte
	err := q.QueryRowContext(ctx, r.core.Rebind("SELECT id, master_id, wrapped FROM "+r.core.Inst.Prefix+"data_keys WHERE scope = ? AND state = ?"), scope, stateCurrent).Scan(&id, &masterID, &wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, r.core.Wrap("keyring.Seal", err)
	}
	raw, err := parseID(id)
	if err != nil {
		return nil, coffer.Internal("keyring.Seal", err)
	}
	r.mu.RLock()
	k, ok := r.keys[raw]
	r.mu.RUnlock()
	if ok {
		return k, nil
	}
	return r.unwrap(raw, scope, masterID, wrapped)
}

// create inserts a new current key for scope unless the scope has one
// (another node may have made it meanwhile: the partial unique index on
// current keys makes one insert win).
func (r *Ring) create(ctx context.Context, tx *store.WriteTx, scope string) error {
	id, wrapped, masterID, err := r.newWrapped(scope)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, r.core.Rebind("INSERT INTO "+r.core.Inst.Prefix+"data_keys (id, scope, created_at, master_id, wrapped, state) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"),
		hex.EncodeToString(id[:]), scope, r.core.NowMicros(), masterID, wrapped, stateCurrent)
	return err
}

// newWrapped makes a random data key for scope and wraps it under the
// current master key.
func (r *Ring) newWrapped(scope string) (id [idSize]byte, wrapped []byte, masterID string, err error) {
	if _, err = rand.Read(id[:]); err != nil {
		return
	}
	key := make([]byte, keySize)
	defer clear(key)
	if _, err = rand.Read(key); err != nil {
		return
	}
	mk := r.m.current()
	wrapped, err = wrap(&mk.key, mk.id, id, scope, key)
	return id, wrapped, mk.id, err
}

// wrapAD is the associated data of a wrapped data key: what it is, its
// id and its scope, so that a wrapped key moved to another row fails.
func wrapAD(masterID string, id [idSize]byte, scope string) []byte {
	b := []byte("coffer data key v1\x00" + masterID + "\x00")
	b = append(b, id[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(scope)))
	return append(b, scope...)
}

// wrap seals a data key under a master key: nonce | ciphertext and tag.
func wrap(mk *[keySize]byte, masterID string, id [idSize]byte, scope string, key []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(mk[:])
	if err != nil {
		return nil, err
	}
	out := make([]byte, nonceSize, nonceSize+keySize+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, err
	}
	return aead.Seal(out, out[:nonceSize], key, wrapAD(masterID, id, scope)), nil
}

// unwrapKey opens a wrapped data key.
func (r *Ring) unwrapKey(id [idSize]byte, scope, masterID string, wrapped []byte) ([]byte, error) {
	mk, ok := r.m.key(masterID)
	if !ok {
		return nil, integrity("keyring.unwrap", fmt.Errorf("master key %s is not in the key file", masterID))
	}
	aead, err := chacha20poly1305.NewX(mk[:])
	if err != nil {
		return nil, coffer.Internal("keyring.unwrap", err)
	}
	if len(wrapped) < nonceSize+aead.Overhead() {
		return nil, integrity("keyring.unwrap", errors.New("wrapped key too short"))
	}
	key, err := aead.Open(nil, wrapped[:nonceSize], wrapped[nonceSize:], wrapAD(masterID, id, scope))
	if err != nil {
		return nil, integrity("keyring.unwrap", err)
	}
	return key, nil
}

// unwrap opens a wrapped data key and keeps it.
func (r *Ring) unwrap(id [idSize]byte, scope, masterID string, wrapped []byte) (*dataKey, error) {
	key, err := r.unwrapKey(id, scope, masterID, wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, coffer.Internal("keyring.unwrap", err)
	}
	k := &dataKey{id: id, scope: scope, aead: aead}
	r.mu.Lock()
	if old, ok := r.keys[id]; ok {
		k = old
	} else {
		r.keys[id] = k
	}
	r.mu.Unlock()
	return k, nil
}

// keyByID returns the data key id: from memory, or read from the
// database (another node, or a rotation, may have made it).
func (r *Ring) keyByID(ctx context.Context, q Querier, id [idSize]byte) (*dataKey, error) {
	r.mu.RLock()
	k, ok := r.keys[id]
	r.mu.RUnlock()
	if ok {
		return k, nil
	}
	var scope, masterID, state string
	var wrapped []byte
	if q == nil {
		q = r.core.Inst.R
	}
	err := q.QueryRowContext(ctx, r.core.Rebind("SELECT scope, master_id, wrapped, state FROM "+r.core.Inst.Prefix+"data_keys WHERE id = ?"), hex.EncodeToString(id[:])).Scan(&scope, &masterID, &wrapped, &state)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, integrity("keyring.Open", errors.New("unknown data key"))
	}
	if err != nil {
		return nil, r.core.Wrap("keyring.Open", err)
	}
	if state == stateShredded {
		return nil, integrity("keyring.Open", errors.New("the data key was shredded"))
	}
	return r.unwrap(id, scope, masterID, wrapped)
}

// parseID reads a data key id as stored (hexadecimal).
func parseID(s string) (id [idSize]byte, err error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != idSize {
		return id, fmt.Errorf("data key id %q is not valid", s)
	}
	copy(id[:], b)
	return id, nil
}
