// Package audit is Coffer's verifiable audit log of instance and
// organization security events (logins and their failures, second factors,
// passwords, sessions and API keys, organizations, members and grants,
// operator actions).
//
// The log is append-only and is a Merkle tree as RFC 6962 and
// golang.org/x/mod/sumdb/tlog build it: entry n is the record bytes
// stored with it (a JSON object of its fields and its index), its leaf is
// tlog.RecordHash of those bytes, and the tree's stored hashes
// (tlog.StoredHashes) live in the audit_hashes table. Each entry is
// appended in the transaction of the event it records (Log.Append), after
// locking the log's head row, so that concurrent writers, even several
// nodes on one PostgreSQL database, get consecutive indexes and one tree.
//
// Checkpoints (Log.Checkpoint) are signed notes in the C2SP
// tlog-checkpoint format (origin line, tree size, base64 root hash),
// signed with Ed25519 through golang.org/x/mod/sumdb/note with a key kept
// in a file next to the data (LoadOrCreateKey). Each is stored in the
// database and appended to a file outside it and to the server log.
// Verify recomputes the tree from the entries and checks every
// checkpoint against it, against each other (consistency proofs) and
// against the file; Prove gives an inclusion proof of one entry.
//
// Pruning (Log.Prune) deletes the entries of a checkpointed prefix of the
// log but keeps their stored hashes, which hold nothing but hashes: the
// tree, and so every checkpoint, can still be recomputed and verified.
// The next checkpoint records the dropped range.
//
// No secret ever enters an entry: callers pass identifiers, kinds and
// short descriptions, never passwords, tokens, codes or key material.
package audit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
)

// OriginPrefix starts the origin line of every Coffer audit log's
// checkpoints; the instance's random id follows.
const OriginPrefix = "coffer.local/audit/"

// Querier runs statements in a transaction (or on a database).
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Event is what a service records: the entry without its index and time.
// Actor is the user who acted (empty: nobody signed in, e.g. a failed
// login), UserID the account the event is about, OrgID the organization
// whose part of the log it belongs to (empty: the instance's).
type Event struct {
	Kind      string
	Actor     string
	UserID    string
	Email     string
	OrgID     string
	IP        string
	UserAgent string
	Detail    string
}

// record is the form of an entry that is hashed: its bytes are stored
// with the entry, and Verify rebuilds them from the entry's columns.
type record struct {
	V      int    `json:"v"`
	Index  int64  `json:"index"`
	At     int64  `json:"at"` // microseconds since the epoch, UTC
	Kind   string `json:"kind"`
	Actor  string `json:"actor"`
	User   string `json:"user"`
	Email  string `json:"email"`
	Org    string `json:"org"`
	IP     string `json:"ip"`
	UA     string `json:"ua"`
	Detail string `json:"detail"`
}

func (r *record) bytes() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // a struct of strings and integers always encodes
	}
	return b
}

// Log is the audit log of one instance database.
type Log struct {
	core     *store.Core
	appended chan struct{}
}

// New returns the audit log on core's instance database.
func New(core *store.Core) *Log {
	return &Log{core: core, appended: make(chan struct{}, 1)}
}

// Appended receives a value after appends (at most one waits), so that a
// checkpointer can count entries without polling often. The append may
// not be committed yet when it arrives.
func (l *Log) Appended() <-chan struct{} { return l.appended }

func (l *Log) table(name string) string { return l.core.Inst.Prefix + name }

// head is the log's head row, locked by the transaction that read it.
type head struct {
	origin string
	size   int64 // entries appended (pruned ones included)
	first  int64 // index of the first entry kept
}

// lockHead reads and locks the head row, making it (and sealing the
// entries moved from the old events table) at the first append.
func (l *Log) lockHead(ctx context.Context, q Querier) (*head, error) {
	h, err := l.readHead(ctx, q, true)
	if !errors.Is(err, sql.ErrNoRows) {
		return h, err
	}
	origin := OriginPrefix + strings.ToLower(rand.Text())
	if _, err := q.ExecContext(ctx, l.core.Rebind("INSERT INTO "+l.table("audit_head")+" (id, origin, size, first_idx) VALUES (1, ?, 0, 0) ON CONFLICT (id) DO NOTHING"), origin); err != nil {
		return nil, err
	}
	if h, err = l.readHead(ctx, q, true); err != nil {
		return nil, err
	}
	return h, l.seal(ctx, q, h)
}

func (l *Log) readHead(ctx context.Context, q Querier, lock bool) (*head, error) {
	query := "SELECT origin, size, first_idx FROM " + l.table("audit_head") + " WHERE id = 1"
	if lock {
		query += l.core.Dialect.LockRows(true)
	}
	var h head
	err := q.QueryRowContext(ctx, query).Scan(&h.origin, &h.size, &h.first)
	if err != nil {
		return nil, err
	}
	return &h, nil
}

// seal computes the records and hashes of the entries that have none
// (the events moved from auth_events by the migration), in index order.
func (l *Log) seal(ctx context.Context, q Querier, h *head) error {
	rows, err := q.QueryContext(ctx, "SELECT "+entryCols+" FROM "+l.table("audit_entries")+" WHERE record IS NULL ORDER BY idx")
	if err != nil {
		return err
	}
	var pending []*record
	for rows.Next() {
		r, _, err := scanRecord(rows)
		if err != nil {
			rows.Close()
			return err
		}
		pending = append(pending, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range pending {
		if r.Index != h.size {
			return fmt.Errorf("audit: unsealed entry %d, want %d", r.Index, h.size)
		}
		b := r.bytes()
		if _, err := q.ExecContext(ctx, l.core.Rebind("UPDATE "+l.table("audit_entries")+" SET record = ? WHERE idx = ?"), b, r.Index); err != nil {
			return err
		}
		if err := l.storeHashes(ctx, q, h.size, tlog.RecordHash(b)); err != nil {
			return err
		}
		h.size++
	}
	return l.setSize(ctx, q, h.size)
}

func (l *Log) setSize(ctx context.Context, q Querier, size int64) error {
	_, err := q.ExecContext(ctx, l.core.Rebind("UPDATE "+l.table("audit_head")+" SET size = ? WHERE id = 1"), size)
	return err
}

// Seal makes the head row and seals the entries moved from the old events
// table, if that has not happened yet. The server calls it at start.
func (l *Log) Seal(ctx context.Context) error {
	return l.core.Write(ctx, l.core.Inst, "audit.Seal", func(tx *store.WriteTx) error {
		_, err := l.lockHead(ctx, tx)
		return err
	})
}

// ClaimKey records k as the instance's checkpoint key, or checks that it
// is the one recorded: every node of an instance must sign with the same
// key (copy the key file of the first). It guards against a
// misconfiguration, not an attacker: Verify trusts only the key file.
func (l *Log) ClaimKey(ctx context.Context, k *Key) error {
	return l.core.Write(ctx, l.core.Inst, "audit.ClaimKey", func(tx *store.WriteTx) error {
		if _, err := l.lockHead(ctx, tx); err != nil {
			return err
		}
		var recorded string
		if err := tx.QueryRowContext(ctx, "SELECT verifier FROM "+l.table("audit_head")+" WHERE id = 1").Scan(&recorded); err != nil {
			return err
		}
		switch recorded {
		case k.VerifierKey:
			return nil
		case "":
			_, err := tx.ExecContext(ctx, l.core.Rebind("UPDATE "+l.table("audit_head")+" SET verifier = ? WHERE id = 1"), k.VerifierKey)
			return err
		}
		return fmt.Errorf("the audit key %s is not the one this instance's checkpoints are signed with (%s): "+
			"give every server of the instance the same %s (copy it from the first)", k.VerifierKey, recorded, KeyFile)
	})
}

// Origin returns the origin line of the log's checkpoints, making the
// head row if needed.
func (l *Log) Origin(ctx context.Context) (string, error) {
	h, err := l.readHead(ctx, l.core.Inst.R, false)
	if errors.Is(err, sql.ErrNoRows) {
		if err := l.Seal(ctx); err != nil {
			return "", err
		}
		h, err = l.readHead(ctx, l.core.Inst.R, false)
	}
	if err != nil {
		return "", l.core.Wrap("audit.Origin", err)
	}
	return h.origin, nil
}

// Append adds e to the log in the transaction q, at the next index. The
// time is the core's clock.
func (l *Log) Append(ctx context.Context, q Querier, e Event) error {
	h, err := l.lockHead(ctx, q)
	if err != nil {
		return err
	}
	r := &record{V: 1, Index: h.size, At: l.core.NowMicros(), Kind: e.Kind, Actor: e.Actor, User: e.UserID,
		Email: e.Email, Org: e.OrgID, IP: e.IP, UA: e.UserAgent, Detail: e.Detail}
	b := r.bytes()
	if _, err := q.ExecContext(ctx, l.core.Rebind("INSERT INTO "+l.table("audit_entries")+
		" (idx, at, kind, actor, user_id, email, org_id, ip, user_agent, detail, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		r.Index, r.At, r.Kind, nullable(r.Actor), nullable(r.User), r.Email, nullable(r.Org), r.IP, r.UA, r.Detail, b); err != nil {
		return err
	}
	if err := l.storeHashes(ctx, q, r.Index, tlog.RecordHash(b)); err != nil {
		return err
	}
	if err := l.setSize(ctx, q, h.size+1); err != nil {
		return err
	}
	select {
	case l.appended <- struct{}{}:
	default:
	}
	return nil
}

// storeHashes stores the hashes that record n with leaf hash leaf adds
// to the tree.
func (l *Log) storeHashes(ctx context.Context, q Querier, n int64, leaf tlog.Hash) error {
	hs, err := tlog.StoredHashesForRecordHash(n, leaf, l.reader(ctx, q))
	if err != nil {
		return err
	}
	base := tlog.StoredHashIndex(0, n)
	args := make([]any, 0, 2*len(hs))
	for i, h := range hs {
		args = append(args, base+int64(i), h[:])
	}
	_, err = q.ExecContext(ctx, l.core.Rebind("INSERT INTO "+l.table("audit_hashes")+" (idx, hash) VALUES "+
		strings.TrimSuffix(strings.Repeat("(?, ?), ", len(hs)), ", ")), args...)
	return err
}

// reader reads stored hashes through q.
func (l *Log) reader(ctx context.Context, q Querier) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		return readHashes(ctx, q, l.core.Rebind, l.table("audit_hashes"), indexes)
	})
}

// readHashes reads the stored hashes at indexes, in their order.
func readHashes(ctx context.Context, q Querier, rebind func(string) string, table string, indexes []int64) ([]tlog.Hash, error) {
	if len(indexes) == 0 {
		return nil, nil
	}
	args := make([]any, len(indexes))
	for i, x := range indexes {
		args[i] = x
	}
	rows, err := q.QueryContext(ctx, rebind("SELECT idx, hash FROM "+table+" WHERE idx IN ("+
		strings.TrimSuffix(strings.Repeat("?, ", len(indexes)), ", ")+")"), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	got := make(map[int64]tlog.Hash, len(indexes))
	for rows.Next() {
		var idx int64
		var b []byte
		if err := rows.Scan(&idx, &b); err != nil {
			return nil, err
		}
		var h tlog.Hash
		if len(b) != len(h) {
			return nil, fmt.Errorf("audit: stored hash %d has %d bytes", idx, len(b))
		}
		copy(h[:], b)
		got[idx] = h
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := got[x]
		if !ok {
			return nil, fmt.Errorf("audit: stored hash %d is missing", x)
		}
		out[i] = h
	}
	return out, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// entryCols are the columns scanRecord reads.
const entryCols = "idx, at, kind, COALESCE(actor, ''), COALESCE(user_id, ''), email, COALESCE(org_id, ''), ip, user_agent, detail, record"

// scanRecord reads an entry's columns (entryCols) as a record, and the
// bytes stored with it (nil before sealing).
func scanRecord(row interface{ Scan(...any) error }) (*record, []byte, error) {
	r := &record{V: 1}
	var b []byte
	err := row.Scan(&r.Index, &r.At, &r.Kind, &r.Actor, &r.User, &r.Email, &r.Org, &r.IP, &r.UA, &r.Detail, &b)
	return r, b, err
}

// ErrEmpty is the answer when no checkpoint covers the entry asked for
// (yet).
var ErrEmpty = coffer.Errorf(coffer.ENOTFOUND, "no checkpoint of the audit log covers this entry")

// LeafIndex is the index, among the stored hashes, of entry n's leaf
// hash: the stored hashes of entries before n are those below it.
func LeafIndex(n int64) int64 { return tlog.StoredHashIndex(0, n) }
