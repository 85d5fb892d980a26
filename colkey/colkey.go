// Package colkey holds the cryptography of encrypted columns: the key
// derived from a column's password with argon2id, the check value that
// tells a right password from a wrong one, the sealed-value layout
// (XChaCha20-Poly1305 with the cell's ids as associated data), and the
// keys a request carries (from X-Coffer-Column-Key) or a session unlocked
// for a few minutes (Unlocks).
//
// The format is specified in docs/encrypted-columns.md so that a client
// can seal values itself; this package follows that text exactly.
package colkey

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"runtime"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/text/unicode/norm"

	"github.com/cofferhq/coffer"
)

// The parameters of new column keys (at least OWASP's m=19 MiB, t=2).
const (
	Memory  = 19 * 1024 // KiB
	Time    = 2
	Threads = 1
	saltLen = 16

	// MinPassword and MaxPassword bound a column password, in code points.
	MinPassword = 12
	MaxPassword = 1024

	// Version is the first byte of a sealed value.
	Version = 1
	// Overhead is what sealing adds to a plaintext: the version byte, the
	// 24-byte nonce and the 16-byte tag.
	Overhead = 1 + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead

	checkLabel = "coffer/encrypted-column/check/v1"
	aadLabel   = "coffer/encrypted-column/v1"
)

// Key is a derived column key. It cannot be compared with == and never
// prints its bytes.
type Key struct {
	_     [0]func() // not comparable
	enc   []byte    // the XChaCha20-Poly1305 key
	check []byte    // the check value the key answers to
}

// String hides the key.
func (*Key) String() string { return "colkey.Key(…)" }

// slots bounds concurrent derivations so a burst cannot exhaust memory.
var slots = make(chan struct{}, max(2, runtime.NumCPU()))

// CheckPassword returns a message when password may not be a column
// password, "" when it may.
func CheckPassword(password string) string {
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password):
		return "must be valid UTF-8"
	case n < MinPassword:
		return "must be at least 12 characters long"
	case n > MaxPassword:
		return "must be at most 1024 characters long"
	}
	return ""
}

// New makes the encryption of a new column from its password: fresh salt,
// current parameters, and the check value of the derived key.
func New(ctx context.Context, password string) (*coffer.ColumnEncryption, *Key, error) {
	if msg := CheckPassword(password); msg != "" {
		return nil, nil, coffer.Invalid("the column password is not valid", coffer.FieldError{Field: "options.password", Message: msg})
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, nil, err
	}
	e := &coffer.ColumnEncryption{Version: Version, KDF: "argon2id", Memory: Memory, Time: Time, Threads: Threads,
		Salt: base64.StdEncoding.EncodeToString(salt)}
	k, err := derive(ctx, e, password)
	if err != nil {
		return nil, nil, err
	}
	e.Check = base64.StdEncoding.EncodeToString(k.check)
	return e, k, nil
}

// ErrWrongPassword is returned by Derive for a password that is not the
// column's.
var ErrWrongPassword = &coffer.Error{Code: coffer.EKEY, Message: "the column password is wrong"}

// Derive returns the key of a column from its password, ErrWrongPassword
// when the password does not match the column's check value.
func Derive(ctx context.Context, e *coffer.ColumnEncryption, password string) (*Key, error) {
	if e == nil {
		return nil, errors.New("colkey: column has no encryption")
	}
	k, err := derive(ctx, e, password)
	if err != nil {
		return nil, err
	}
	want, err := base64.StdEncoding.DecodeString(e.Check)
	if err != nil || subtle.ConstantTimeCompare(k.check, want) != 1 {
		return nil, ErrWrongPassword
	}
	return k, nil
}

// Matches reports whether k is the key of the column encryption e now (a
// password change makes a new salt and check value).
func (k *Key) Matches(e *coffer.ColumnEncryption) bool {
	if k == nil || e == nil {
		return false
	}
	want, err := base64.StdEncoding.DecodeString(e.Check)
	return err == nil && subtle.ConstantTimeCompare(k.check, want) == 1
}

func derive(ctx context.Context, e *coffer.ColumnEncryption, password string) (*Key, error) {
	if e.Version != Version || e.KDF != "argon2id" || e.Memory < Memory || e.Memory > 1<<22 || e.Time < Time || e.Time > 16 || e.Threads < 1 {
		return nil, errors.New("colkey: unsupported column encryption parameters")
	}
	salt, err := base64.StdEncoding.DecodeString(e.Salt)
	if err != nil || len(salt) < saltLen {
		return nil, errors.New("colkey: bad column salt")
	}
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	out := argon2.IDKey([]byte(norm.NFKC.String(password)), salt, e.Time, e.Memory, e.Threads, 64)
	<-slots
	mac := hmac.New(sha256.New, out[32:])
	mac.Write([]byte(checkLabel))
	return &Key{enc: out[:32:32], check: mac.Sum(nil)}, nil
}

// AAD is the associated data of the value of a cell: the label, then the
// notebook, table, record and column ids, each after a zero byte.
func AAD(notebook, table, record, column string) []byte {
	b := make([]byte, 0, len(aadLabel)+4+len(notebook)+len(table)+len(record)+len(column))
	b = append(b, aadLabel...)
	for _, s := range []string{notebook, table, record, column} {
		b = append(b, 0)
		b = append(b, s...)
	}
	return b
}

// Cell names the cell a value belongs to.
type Cell struct{ Notebook, Table, Record, Column string }

// AAD is the associated data of the cell.
func (c Cell) AAD() []byte { return AAD(c.Notebook, c.Table, c.Record, c.Column) }

// Seal encrypts plaintext for cell c under k and returns the sealed value:
// version byte, random 24-byte nonce, ciphertext and tag.
func (k *Key) Seal(c Cell, plaintext []byte) []byte {
	aead, err := chacha20poly1305.NewX(k.enc)
	if err != nil {
		panic("colkey: " + err.Error()) // the key is always 32 bytes
	}
	out := make([]byte, 1+chacha20poly1305.NonceSizeX, Overhead+len(plaintext))
	out[0] = Version
	if _, err := rand.Read(out[1:]); err != nil {
		panic("colkey: crypto/rand failed: " + err.Error())
	}
	return aead.Seal(out, out[1:], plaintext, c.AAD())
}

// ErrIntegrity is returned for a sealed value that does not open: it was
// changed, or moved from another cell.
var ErrIntegrity = &coffer.Error{Code: coffer.EINTEGRITY, Message: "an encrypted value failed its integrity check: it was changed or moved from another cell"}

// Open decrypts a sealed value of cell c.
func (k *Key) Open(c Cell, sealed []byte) ([]byte, error) {
	if !WellFormed(sealed) {
		return nil, ErrIntegrity
	}
	aead, err := chacha20poly1305.NewX(k.enc)
	if err != nil {
		return nil, err
	}
	out, err := aead.Open(nil, sealed[1:1+chacha20poly1305.NonceSizeX], sealed[1+chacha20poly1305.NonceSizeX:], c.AAD())
	if err != nil {
		return nil, ErrIntegrity
	}
	return out, nil
}

// WellFormed reports whether b has the layout of a sealed value (version
// and length); only opening it proves it sound.
func WellFormed(b []byte) bool {
	return len(b) >= Overhead && b[0] == Version
}

// Encode is the text form of a sealed value, as stored and in JSON:
// standard base64 with padding.
func Encode(sealed []byte) string { return base64.StdEncoding.EncodeToString(sealed) }

// Decode reads the text form of a sealed value.
func Decode(s string) ([]byte, bool) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || !WellFormed(b) {
		return nil, false
	}
	return b, true
}
