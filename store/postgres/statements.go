package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// statements keeps the pool's per-connection statement caches in step with
// the schema. Every query is prepared once per connection and then only
// bound and executed (pgx's QueryExecModeCacheStatement): the server
// parses and plans it once instead of at every request. A prepared
// statement fixes its parameter and result types, so after a column
// changes type (converting a column drops it and adds it back under the
// same name) a statement prepared before fails ("cached plan must not
// change result type", or an operator that no longer fits its parameter).
//
// So every schema change starts a new generation: a DDL statement run
// through the pool (seen by the tracer, by its command tag), the end of a
// transaction that ran one, a migration, a schema version change noticed
// from another node (SchemaChanged) and a stale-statement error (another
// node changed a column before this one noticed). A connection taken from
// the pool whose statements are of an older generation deallocates them
// all first (one round trip) and prepares afresh.
type statements struct {
	gen  atomic.Int64
	next pgx.QueryTracer // Options.Tracer, if any
}

// Keys of a connection's pgconn.CustomData.
const (
	genKey = "coffer.stmtgen" // int64: the generation of its prepared statements
	ddlKey = "coffer.ddl"     // bool: its open transaction changed the schema
)

// changed starts a new generation: every connection drops its prepared
// statements when next taken from the pool.
func (s *statements) changed() { s.gen.Add(1) }

// afterConnect stamps a new connection with the current generation.
func (s *statements) afterConnect(_ context.Context, c *pgx.Conn) error {
	c.PgConn().CustomData()[genKey] = s.gen.Load()
	return nil
}

// resetSession runs when a used connection is taken from the pool again:
// it deallocates the connection's statements when the schema changed since
// they were prepared.
func (s *statements) resetSession(ctx context.Context, c *pgx.Conn) error {
	g := s.gen.Load()
	data := c.PgConn().CustomData()
	if data[genKey] == g {
		return nil
	}
	// DeallocateAll empties pgx's caches, then tells the server; after a
	// failure the server may still hold statements pgx forgot (and would
	// prepare again under the same names): database/sql discards the
	// connection on driver.ErrBadConn.
	if err := c.DeallocateAll(ctx); err != nil {
		return driver.ErrBadConn
	}
	data[genKey] = g
	return nil
}

// TraceQueryStart passes the statement on to the Options' tracer.
func (s *statements) TraceQueryStart(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if s.next != nil {
		ctx = s.next.TraceQueryStart(ctx, c, d)
	}
	return ctx
}

// TraceQueryEnd starts a new generation after a schema change and after
// the end of a transaction that made one, and after an error that a stale
// statement causes.
func (s *statements) TraceQueryEnd(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryEndData) {
	if s.next != nil {
		s.next.TraceQueryEnd(ctx, c, d)
	}
	data := c.PgConn().CustomData()
	switch {
	case d.Err != nil:
		if staleStatement(d.Err) {
			s.changed()
		}
	case isDDL(d.CommandTag.String()):
		// Now, for the connections that prepare before the change
		// commits (they see the old schema), and again when it commits.
		s.changed()
		if c.PgConn().TxStatus() != 'I' {
			data[ddlKey] = true
		}
	}
	if data[ddlKey] == true && c.PgConn().TxStatus() == 'I' {
		delete(data, ddlKey)
		s.changed()
	}
}

// isDDL reports whether a command tag is a schema change's.
func isDDL(tag string) bool {
	return strings.HasPrefix(tag, "ALTER ") || strings.HasPrefix(tag, "DROP ") || strings.HasPrefix(tag, "CREATE ") || tag == "TRUNCATE TABLE"
}

// staleStatement reports whether err is what a statement prepared before a
// schema change answers after it: the server refuses a cached plan whose
// result type changed (0A000 feature_not_supported), or no longer finds an
// operator or a cast for a parameter whose type was fixed when it was
// prepared (42883 undefined_function, 42804 datatype_mismatch).
func staleStatement(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "0A000", "42883", "42804":
		return true
	}
	return false
}
