package value

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/auth"
	"github.com/cofferhq/coffer/colkey"
)

// The secret column types.
//
// An encrypted column stores its sealed value as text (colkey.Encode).
// FromJSON takes a plaintext string, which it returns as a Plain for the
// service to seal (it knows the cell and holds the key), or a value
// sealed already, {"sealed":"<base64>"} (also with "locked":true, the form
// a locked cell reads as, so history and undo round-trip), which it
// returns in its storage form. ToJSON returns a Sealed, which encodes as
// {"locked":true,"sealed":"<base64>"}; the service replaces it with the
// plaintext when the request holds the key.
//
// A password column stores an argon2id PHC hash. FromJSON hashes a string
// (or takes {"hash":"$argon2id$…"} back from history); ToJSON returns a
// PasswordHash, which encodes as {"set":true}: the hash never leaves the
// server but in history's storage (HistoryJSON).

// MaxSecretPassword bounds the length of a password column's value, in
// bytes.
const MaxSecretPassword = 1024

// Plain is a plaintext written to an encrypted column, not yet sealed. It
// cannot be bound into SQL (database drivers refuse the type) nor encoded
// as JSON, so a path that forgot to seal fails instead of leaking.
type Plain struct{ text string }

// Text is the plaintext.
func (p Plain) Text() string { return p.text }

// String hides the plaintext from fmt.
func (Plain) String() string { return "value.Plain(…)" }

// MarshalJSON refuses: a plaintext never goes into JSON unsealed.
func (Plain) MarshalJSON() ([]byte, error) {
	return nil, errors.New("value: an unsealed plaintext cannot be encoded")
}

// Sealed is the JSON form of an encrypted cell read without its key.
type Sealed struct{ B64 string }

// MarshalJSON encodes {"locked":true,"sealed":"<base64>"}.
func (s Sealed) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Locked bool   `json:"locked"`
		Sealed string `json:"sealed"`
	}{true, s.B64})
}

// PasswordHash is the JSON form of a set password cell.
type PasswordHash struct{ hash string }

// Hash is the PHC string.
func (p PasswordHash) Hash() string { return p.hash }

// String hides the hash from fmt.
func (PasswordHash) String() string { return "value.PasswordHash(…)" }

// MarshalJSON encodes {"set":true}.
func (PasswordHash) MarshalJSON() ([]byte, error) { return []byte(`{"set":true}`), nil }

// HistoryJSON is the form history stores, with the hash, so that undo can
// put it back; history never shows it (ScrubHistory).
func (p PasswordHash) HistoryJSON() []byte {
	b, _ := json.Marshal(struct {
		Set  bool   `json:"set"`
		Hash string `json:"hash"`
	}{true, p.hash})
	return b
}

// ScrubHistory returns a stored history value as callers may see it: a
// password hash becomes {"set":true}; anything else is returned as is.
func ScrubHistory(raw []byte) []byte {
	if len(raw) == 0 || raw[0] != '{' || !strings.Contains(string(raw), `"hash"`) {
		return raw
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) == nil {
		if _, ok := m["hash"]; ok {
			return []byte(`{"set":true}`)
		}
	}
	return raw
}

func encryptedFromJSON(_ *coffer.Column, v any) (any, error) {
	switch x := v.(type) {
	case Sealed: // ToJSON's form, back from Go callers (time travel, revert)
		return encryptedFromJSON(nil, map[string]any{"sealed": x.B64})
	case Plain:
		return x, nil
	case string:
		if p := checkText(x, MaxLongText, true); p != textOK {
			return nil, problem(textMessage(p, MaxLongText))
		}
		return Plain{x}, nil
	case map[string]any:
		for k, f := range x {
			switch k {
			case "sealed":
			case "locked":
				if f != true {
					return nil, problem(`must be a string, or {"sealed":"<base64>"} sealed by the client`)
				}
			default:
				return nil, problem(`must be a string, or {"sealed":"<base64>"} sealed by the client`)
			}
		}
		s, _ := x["sealed"].(string)
		b, ok := colkey.Decode(s)
		if !ok || len(b) > MaxLongText+colkey.Overhead {
			return nil, problem("holds a sealed value that is not valid (see docs/encrypted-columns.md)")
		}
		return colkey.Encode(b), nil
	}
	return nil, problem(`must be a string, or {"sealed":"<base64>"} sealed by the client`)
}

func passwordFromJSON(_ *coffer.Column, v any) (any, error) {
	switch x := v.(type) {
	case PasswordHash: // ToJSON's form, back from Go callers (time travel, revert)
		if !acceptableHash(x.hash) {
			return nil, problem("must be a string")
		}
		return x.hash, nil
	case string:
		if len(x) > MaxSecretPassword || !utf8.ValidString(x) {
			return nil, problem(fmt.Sprintf("must be valid UTF-8 of at most %d bytes", MaxSecretPassword))
		}
		h, err := auth.HashPassword(context.Background(), x)
		if err != nil {
			return nil, err
		}
		return h, nil
	case map[string]any:
		h, _ := x["hash"].(string)
		if len(x) > 2 || (len(x) == 2 && x["set"] != true) || !acceptableHash(h) {
			return nil, problem("must be a string")
		}
		return h, nil
	}
	return nil, problem("must be a string")
}

// acceptableHash reports whether h is an argon2id PHC string with bounded
// parameters (a stored hash coming back from history).
func acceptableHash(h string) bool {
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || len(h) > 512 {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	return m >= auth.ArgonMemory && m <= 1<<16 && t >= 1 && t <= 10 && p >= 1 && p <= 4
}

// VerifyPassword reports whether password matches a stored password cell.
func VerifyPassword(ctx context.Context, stored any, password string) (bool, error) {
	h, ok := storedString(stored)
	if !ok || h == "" {
		return false, nil
	}
	return auth.VerifyPassword(ctx, h, password)
}
