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
	"sync"
	"time"
)

// Version is the program version, set at build time with -ldflags.
var Version = "0.1.0-dev"

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns a new identifier: prefix followed by 26 lowercase characters
// that encode a 48-bit millisecond timestamp and 80 random bits. Ids of one
// kind therefore sort by creation time, and cannot be guessed.
//
// Within one process ids are strictly increasing, also within a
// millisecond: an id made in the same millisecond as the one before (or
// after the clock stepped back) adds a random amount of up to 2⁴⁸ to the
// previous id's random part instead of drawing a new one, so records
// created in one millisecond list in creation order, and each id still
// holds 48 random bits that its predecessor does not reveal.
func NewID(prefix string) string {
	var b [16]byte
	idMu.Lock()
	ms := uint64(time.Now().UnixMilli())
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		panic("coffer: crypto/rand failed: " + err.Error())
	}
	if ms > idLast.ms {
		idLast.ms = ms
		idLast.hi = uint64(binary.BigEndian.Uint16(r[0:2]))
		idLast.lo = binary.BigEndian.Uint64(r[2:10])
	} else {
		step := binary.BigEndian.Uint64(r[8:16])>>16 | 1 // 1 … 2⁴⁸-1
		lo := idLast.lo + step
		if lo < idLast.lo {
			idLast.hi++
		}
		idLast.lo = lo
		if idLast.hi > 0xffff { // 80 bits used up: borrow the next millisecond
			idLast.ms++
			idLast.hi = 0
		}
	}
	binary.BigEndian.PutUint64(b[:8], idLast.ms<<16|idLast.hi)
	binary.BigEndian.PutUint64(b[8:], idLast.lo)
	idMu.Unlock()
	return prefix + idEncoding.EncodeToString(b[:])
}

// idLast is the last id made by NewID: its millisecond and its 80-bit
// random part (hi holds the top 16 bits).
var (
	idMu   sync.Mutex
	idLast struct{ ms, hi, lo uint64 }
)

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
	PrefixIndex    = "idx_"
)
