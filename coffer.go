// Package coffer holds Coffer's domain: the types (notebooks, tables, columns,
// records, views, users, sessions), the service interfaces that the storage
// layer implements and the HTTP API uses, the caller carried in a context, and
// the one error type with stable codes.
//
// Dependencies point inward: every other package imports this one; only
// cmd/coffer wires concrete implementations together.
package coffer

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"
)

// Version is the program version, set at build time with -ldflags.
var Version = "0.1.0-dev"

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns a new identifier: prefix followed by 26 lowercase characters
// that encode a 48-bit millisecond timestamp and 80 random bits. Ids of one
// kind therefore sort roughly by creation time, and cannot be guessed.
func NewID(prefix string) string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	binary.BigEndian.PutUint64(b[:8], ms<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic("coffer: crypto/rand failed: " + err.Error())
	}
	return prefix + idEncoding.EncodeToString(b[:])
}

// ValidID reports whether s looks like an id made by NewID with the prefix.
// It only checks the shape, so lookups can refuse garbage early.
func ValidID(prefix, s string) bool {
	if !strings.HasPrefix(s, prefix) || len(s) != len(prefix)+26 {
		return false
	}
	for _, c := range s[len(prefix):] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// Id prefixes, one per kind of object.
const (
	PrefixUser     = "usr_"
	PrefixSession  = "ses_"
	PrefixNotebook = "nb_"
	PrefixTable    = "tbl_"
	PrefixColumn   = "col_"
	PrefixRecord   = "rec_"
	PrefixView     = "viw_"
	PrefixOrg      = "org_"
	PrefixGroup    = "grp_"
	PrefixAPIKey   = "key_"
	PrefixEvent    = "evt_"
)
