package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// sqlLimits is limit L2: the statements the server runs for each workload,
// run in process through database/sql on the notebook's database file,
// with the connections and pragmas of store/sqlite (on PostgreSQL: on the
// server's own connection pool, in the notebook's schema). What remains
// between L2 and the HTTP workloads is Coffer's own cost: HTTP, session and
// notebook lookups, validation, JSON, and for writes the read-back of the
// written record.
type sqlLimits struct {
	readers *sql.DB   // reader pool, query_only (PostgreSQL: the server's pool)
	full    *sql.DB   // single writer connection, synchronous=FULL, as the server (PostgreSQL: the server's pool)
	normal  *sql.DB   // single writer connection, synchronous=NORMAL, to price durability (PostgreSQL: a pool with synchronous_commit=off)
	own     []*sql.DB // the pools to close

	rebind func(string) string // "?" placeholders to the backend's
	nulls  func(desc bool) string

	table   string   // quoted SQL name of the table
	cols    []string // quoted SQL names of the user columns, in table order
	byName  map[string]string
	userID  string
	selectQ string // every column of one record, as the server reads it
	listSQL string // the list workload's query
}

// openSQLLimits opens the bench notebook as store/sqlite does: WAL,
// foreign keys, busy_timeout; one writer connection with BEGIN IMMEDIATE;
// readers as many as store/sqlite's default (max(4, 2×GOMAXPROCS)).
func openSQLLimits(e *benchEnv) (_ *sqlLimits, err error) {
	d := e.backend.Dialect()
	l := &sqlLimits{
		table:  `"t_` + strings.TrimPrefix(e.table.ID, coffer.PrefixTable) + `"`,
		byName: map[string]string{},
		userID: e.userID,
		rebind: d.Rebind,
		nulls:  d.NullsOrder,
	}
	pg, _ := e.backend.(*postgres.Backend)
	if pg != nil {
		schema, err := pg.NotebookSchema(e.notebook)
		if err != nil {
			return nil, err
		}
		l.table = `"` + schema + `".` + l.table
	}
	for _, c := range e.table.Columns {
		q := `"c_` + strings.TrimPrefix(c.ID, coffer.PrefixColumn) + `"`
		l.cols = append(l.cols, q)
		l.byName[c.Name] = q
	}
	l.selectQ = "SELECT t.id, t.version, t.created_at, t.created_by, t.updated_at, t.updated_by"
	for _, c := range l.cols {
		l.selectQ += ", t." + c
	}
	l.listSQL = l.listQuery()
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	if pg != nil {
		return l, l.openPostgres(pg, e.store.dbURL)
	}
	dsn := "file:" + (&url.URL{Path: e.notebookFile()}).EscapedPath() +
		"?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)"
	readers := max(4, 2*runtime.GOMAXPROCS(0))
	if l.readers, err = openPool(dsn+"&_pragma=synchronous(FULL)&_pragma=query_only(1)", readers); err != nil {
		return nil, err
	}
	l.own = append(l.own, l.readers)
	if l.full, err = openPool(dsn+"&_pragma=synchronous(FULL)&_txlock=immediate", 1); err != nil {
		return nil, err
	}
	l.own = append(l.own, l.full)
	if l.normal, err = openPool(dsn+"&_pragma=synchronous(NORMAL)&_txlock=immediate", 1); err != nil {
		return nil, err
	}
	l.own = append(l.own, l.normal)
	return l, nil
}

// openPostgres reads and writes through the server's own pool (pgx, the
// same connection settings), as concurrently as the server does; the
// price of durability is measured on a second pool whose connections run
// with synchronous_commit=off.
func (l *sqlLimits) openPostgres(b *postgres.Backend, url string) error {
	l.readers, l.full = b.Pool(), b.Pool()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return err
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement // as store/postgres
	cfg.RuntimeParams["synchronous_commit"] = "off"
	l.normal = stdlib.OpenDB(*cfg)
	l.own = append(l.own, l.normal)
	return l.normal.Ping()
}

func openPool(dsn string, n int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(0)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func (l *sqlLimits) close() {
	for _, db := range l.own {
		db.Close()
	}
}

// scanRow scans one row of selectQ (plus extra columns) into throwaway
// values, or into id for the first column when given.
func (l *sqlLimits) scanRow(row interface{ Scan(...any) error }, extra int, id ...*any) error {
	vals := make([]any, 6+len(l.cols)+extra)
	dest := make([]any, len(vals))
	for i := range vals {
		dest[i] = &vals[i]
	}
	if len(id) > 0 {
		dest[0] = id[0]
	}
	return row.Scan(dest...)
}

// getOp: SELECT every column of one record by primary key. Limited by
// SQLite's B-tree lookup and the driver's per-statement cost.
func (l *sqlLimits) getOp(ids []string) opFunc {
	q := l.rebind(l.selectQ + " FROM " + l.table + " t WHERE t.id = ?")
	return func(ctx context.Context, rng *rand.Rand) error {
		return l.scanRow(l.readers.QueryRowContext(ctx, q, ids[rng.IntN(len(ids))]), 0)
	}
}

// listOp: the server's query for the list workload — same WHERE (as the
// filter compiler writes it), ORDER BY (with the id tie-break) and LIMIT
// (page + 1, to know whether a next page exists), every column plus the
// sort keys for the cursor. Limited by SQLite: a walk of the (Age, id) index
// that stops after the page, one table lookup per row checked.
func (l *sqlLimits) listOp() opFunc {
	return func(ctx context.Context, rng *rand.Rand) error {
		_, err := l.listPage(ctx)
		return err
	}
}

func (l *sqlLimits) listQuery() string {
	age, team := "t."+l.byName["Age"], "t."+l.byName["Team"]
	where := "((" + age + " IS NOT NULL AND " + age + " > ?) AND (" + team + " IS NOT NULL AND " + team + " = ?))"
	return l.rebind(l.selectQ + ", " + age + ", t.id FROM " + l.table + " t WHERE " + where +
		" ORDER BY " + age + " DESC" + l.nulls(true) + ", t.id DESC LIMIT " + strconv.Itoa(benchLimit+1))
}

// listPage runs the list query and returns the ids of the page.
func (l *sqlLimits) listPage(ctx context.Context) ([]string, error) {
	rows, err := l.readers.QueryContext(ctx, l.listSQL, int64(30), "red")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id any
		if err := l.scanRow(rows, 2, &id); err != nil {
			return nil, err
		}
		if len(ids) < benchLimit {
			ids = append(ids, fmt.Sprint(id))
		}
	}
	return ids, rows.Err()
}

// checkSameList makes sure that the list limit measures the query the
// server answers with: both must return the same page.
func (l *sqlLimits) checkSameList(ctx context.Context, e *benchEnv) error {
	want, err := l.listPage(ctx)
	if err != nil {
		return err
	}
	var page struct {
		Records []struct {
			ID string `json:"id"`
		} `json:"records"`
	}
	if err := e.client.do(ctx, "GET", e.listURL(), nil, http.StatusOK, &page); err != nil {
		return err
	}
	got := make([]string, len(page.Records))
	for i, r := range page.Records {
		got[i] = r.ID
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("bench: the in-process list query returns another page than the server (%d and %d records): it no longer measures the same SQL", len(want), len(got))
	}
	return nil
}

// insertOp: one transaction inserting one record with every column, on
// the single writer connection of db. Limited by the commit's fsyncs
// (synchronous=FULL) and by the single writer.
func (l *sqlLimits) insertOp(db *sql.DB) opFunc {
	q := l.rebind("INSERT INTO " + l.table + " (id, version, created_at, created_by, updated_at, updated_by, " +
		strings.Join(l.cols, ", ") + ") VALUES (?, 1, ?, ?, ?, ?" + strings.Repeat(", ?", len(l.cols)) + ")")
	var n atomic.Int64
	return func(ctx context.Context, rng *rand.Rand) error {
		f := newBenchFields(rng, 20_000_000+int(n.Add(1)))
		now := time.Now().UnixMicro()
		score, _ := strconv.ParseFloat(string(f.Score), 64)
		seen, _ := time.Parse(time.RFC3339, f.Seen)
		return l.tx(ctx, db, q, coffer.NewID(coffer.PrefixRecord), now, l.userID, now, l.userID,
			f.Name, int64(f.Age), int64(score*100), f.Team, f.Active, f.Born, f.Email, seen.UnixMicro())
	}
}

// updateOp: one transaction updating two columns of one record by id, with
// the version bump and audit columns the server writes. Limited as insertOp.
func (l *sqlLimits) updateOp(ids []string) opFunc {
	q := l.rebind("UPDATE " + l.table + " SET version = version + 1, updated_at = ?, updated_by = ?, " +
		l.byName["Score"] + " = ?, " + l.byName["Active"] + " = ? WHERE id = ?")
	return func(ctx context.Context, rng *rand.Rand) error {
		return l.tx(ctx, l.full, q, time.Now().UnixMicro(), l.userID, rng.Int64N(100_000), rng.IntN(2) == 0, ids[rng.IntN(len(ids))])
	}
}

// tx runs one statement in its own transaction.
func (l *sqlLimits) tx(ctx context.Context, db *sql.DB, q string, args ...any) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
