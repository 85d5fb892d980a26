package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/cofferhq/coffer/store"
)

// Sum is the row count and checksum of one SQL table.
type Sum struct {
	Database string // "instance" or a notebook id
	Table    string // SQL name, with the user's name for user tables and junctions
	Name     string // SQL name only (no user's name: safe to keep in clear)
	Rows     int64
	// Checksum is the hex SHA-256 of the canonical encoding of every row in
	// the table's total order (by id; junctions by src, dst). The encoding
	// depends on values only, not on how a backend stores them: a NULL is
	// 0x00; text is 'S', its length (uvarint) and bytes; an integer 'I' and
	// 8 bytes big-endian; a boolean 'B' and 0 or 1; bytes 'X', their length
	// (uvarint) and the bytes.
	Checksum string
}

// Checksums computes the Sum of every table of b: the instance tables,
// then for each notebook in the registry its catalogue tables, user tables
// and junctions. Each database is read in one snapshot.
func Checksums(ctx context.Context, b store.Backend) ([]Sum, error) {
	d := b.Dialect()
	inst := b.Instance()
	tx, err := readTx(ctx, d, inst)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var out []Sum
	for i := range instanceTables {
		s, err := checksum(ctx, tx, inst.Prefix, &instanceTables[i], sha256.New)
		if err != nil {
			return nil, fmt.Errorf("instance: %s: %w", instanceTables[i].name, err)
		}
		s.Database = "instance"
		out = append(out, s)
	}
	ids, err := notebookIDs(ctx, tx, inst.Prefix)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		sums, err := notebookChecksums(ctx, b, id)
		if err != nil {
			return nil, fmt.Errorf("notebook %s: %w", id, err)
		}
		out = append(out, sums...)
	}
	return out, nil
}

func notebookChecksums(ctx context.Context, b store.Backend, id string) ([]Sum, error) {
	db, release, err := b.Notebook(ctx, id)
	if err != nil {
		return nil, err
	}
	defer release()
	sums, err := NotebookSums(ctx, b.Dialect(), db, sha256.New)
	for i := range sums {
		sums[i].Database = id
	}
	return sums, err
}

// NotebookSums computes the Sum of every table of one notebook database
// (catalogue tables, user tables, junctions), read in one snapshot, with
// the hash newHash makes: sha256.New gives Checksums' sums; a keyed hash
// (an HMAC) gives sums that reveal nothing of small tables' contents.
// Database is left empty.
func NotebookSums(ctx context.Context, d store.Dialect, db *store.DB, newHash func() hash.Hash) ([]Sum, error) {
	tx, err := readTx(ctx, d, db)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	nd, err := readCatalogue(ctx, tx, d, db.Prefix)
	if err != nil {
		return nil, fmt.Errorf("read catalogue: %w", err)
	}
	tables := append(append([]table{}, catalogueTables...), nd.user...)
	var out []Sum
	for i := range tables {
		s, err := checksum(ctx, tx, db.Prefix, &tables[i], newHash)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tables[i].label, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// InstanceSums is NotebookSums for an instance database, leaving out the
// tables named in skip. Database is "instance".
func InstanceSums(ctx context.Context, d store.Dialect, db *store.DB, newHash func() hash.Hash, skip ...string) ([]Sum, error) {
	tx, err := readTx(ctx, d, db)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var out []Sum
	for i := range instanceTables {
		if slices.Contains(skip, instanceTables[i].name) {
			continue
		}
		s, err := checksum(ctx, tx, db.Prefix, &instanceTables[i], newHash)
		if err != nil {
			return nil, fmt.Errorf("instance: %s: %w", instanceTables[i].name, err)
		}
		s.Database = "instance"
		out = append(out, s)
	}
	return out, nil
}

// checksum reads every row of t and hashes its canonical encoding.
func checksum(ctx context.Context, q querier, prefix string, t *table, newHash func() hash.Hash) (Sum, error) {
	s := Sum{Table: t.label, Name: t.name}
	rows, err := q.QueryContext(ctx, t.selectSQL(prefix))
	if err != nil {
		return s, err
	}
	defer rows.Close()
	h := newHash()
	holders := t.holders()
	var buf []byte
	for rows.Next() {
		if err := rows.Scan(holders...); err != nil {
			return s, err
		}
		buf = buf[:0]
		for _, x := range holders {
			buf = encode(buf, value(x))
		}
		h.Write(buf)
		s.Rows++
	}
	if err := rows.Err(); err != nil {
		return s, err
	}
	s.Checksum = hex.EncodeToString(h.Sum(nil))
	return s, nil
}

func encode(buf []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(buf, 0)
	case string:
		buf = append(buf, byte(kText))
		buf = binary.AppendUvarint(buf, uint64(len(x)))
		return append(buf, x...)
	case int64:
		buf = append(buf, byte(kInt))
		return binary.BigEndian.AppendUint64(buf, uint64(x))
	case bool:
		buf = append(buf, byte(kBool))
		if x {
			return append(buf, 1)
		}
		return append(buf, 0)
	case []byte:
		buf = append(buf, byte(kBytes))
		buf = binary.AppendUvarint(buf, uint64(len(x)))
		return append(buf, x...)
	}
	panic(fmt.Sprintf("transfer: cannot encode %T", v))
}

// ErrMismatch is returned (wrapped) when the two sides differ.
var ErrMismatch = errors.New("the copy differs from the source")

// Report is the outcome of a verification.
type Report struct {
	Sums       []Sum    // the source's, which the destination matched
	Mismatches []string // what differs, empty when the copy is exact
	Rows       int64    // total rows compared
	Databases  int
}

// Verify computes the checksums of src and dst and compares them table by
// table. It returns the report and, when anything differs (a table missing
// on either side, a row count or a checksum), an error wrapping
// ErrMismatch that lists the differences.
func Verify(ctx context.Context, src, dst store.Backend) (*Report, error) {
	ss, err := Checksums(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("checksum source: %w", err)
	}
	ds, err := Checksums(ctx, dst)
	if err != nil {
		return nil, fmt.Errorf("checksum destination: %w", err)
	}
	r := &Report{Sums: ss}
	key := func(s Sum) string { return s.Database + " " + s.Table }
	dm := map[string]Sum{}
	for _, s := range ds {
		dm[key(s)] = s
	}
	dbs := map[string]bool{}
	for _, s := range ss {
		dbs[s.Database] = true
		r.Rows += s.Rows
		d, ok := dm[key(s)]
		delete(dm, key(s))
		switch {
		case !ok:
			r.Mismatches = append(r.Mismatches, fmt.Sprintf("%s %s: missing on the destination", s.Database, s.Table))
		case d.Rows != s.Rows:
			r.Mismatches = append(r.Mismatches, fmt.Sprintf("%s %s: %d rows on the source, %d on the destination", s.Database, s.Table, s.Rows, d.Rows))
		case d.Checksum != s.Checksum:
			r.Mismatches = append(r.Mismatches, fmt.Sprintf("%s %s: checksum %s on the source, %s on the destination", s.Database, s.Table, s.Checksum, d.Checksum))
		}
	}
	for _, s := range ds {
		if _, extra := dm[key(s)]; extra {
			r.Mismatches = append(r.Mismatches, fmt.Sprintf("%s %s: on the destination only (%d rows)", s.Database, s.Table, s.Rows))
		}
	}
	r.Databases = len(dbs)
	if len(r.Mismatches) > 0 {
		return r, fmt.Errorf("%w:\n  %s", ErrMismatch, strings.Join(r.Mismatches, "\n  "))
	}
	return r, nil
}

// Write prints the report: one line per table, then the totals.
func (r *Report) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DATABASE\tTABLE\tROWS\tSHA-256")
	for _, s := range r.Sums {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", s.Database, s.Table, s.Rows, s.Checksum)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	status := "identical on both sides"
	if len(r.Mismatches) > 0 {
		status = fmt.Sprintf("%d MISMATCH(ES)", len(r.Mismatches))
	}
	_, err := fmt.Fprintf(w, "%d databases, %d tables, %d rows: %s\n", r.Databases, len(r.Sums), r.Rows, status)
	return err
}
