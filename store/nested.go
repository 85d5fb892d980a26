package store

import (
	"context"
	"strconv"
)

// Nested writes: a write that must be all or nothing across several
// operations of their own (a whole-notebook restore: tables deleted,
// created and rewritten, each through its ordinary code) runs them under
// a context that carries its transaction (WithWriteTx). Write on the same
// DB then runs inside that transaction, in a savepoint of its own: a
// failed operation rolls back to its savepoint, and nothing of any of
// them is committed before the outer transaction commits (or nothing at
// all when it rolls back).

type txKey struct{}

// ambientTx is a write transaction carried by a context, with its DB.
type ambientTx struct {
	db *DB
	tx *WriteTx
}

// WithWriteTx returns a context under which writes to db run inside tx
// (see Write). Only the goroutine that runs tx's function may use it.
func WithWriteTx(ctx context.Context, db *DB, tx *WriteTx) context.Context {
	return context.WithValue(ctx, txKey{}, &ambientTx{db: db, tx: tx})
}

// InWriteTx reports whether writes to db under ctx run inside a
// transaction the context carries.
func InWriteTx(ctx context.Context, db *DB) bool {
	a, _ := ctx.Value(txKey{}).(*ambientTx)
	return a != nil && a.db == db
}

// nested runs fn inside the context's transaction on db, in a savepoint;
// ok is false when ctx carries no transaction on db.
func (s *Core) nested(ctx context.Context, db *DB, fn func(tx *WriteTx) error) (ok bool, err error) {
	a, _ := ctx.Value(txKey{}).(*ambientTx)
	if a == nil || a.db != db {
		return false, nil
	}
	tx := a.tx
	tx.depth++
	defer func() { tx.depth-- }()
	sp := "nest" + strconv.Itoa(tx.depth)
	if _, err := tx.Tx.ExecContext(ctx, "SAVEPOINT "+sp); err != nil {
		return true, err
	}
	if err := fn(tx); err != nil {
		if _, rerr := tx.Tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+sp); rerr != nil {
			return true, rerr
		}
		_, _ = tx.Tx.ExecContext(ctx, "RELEASE SAVEPOINT "+sp)
		return true, err
	}
	_, err = tx.Tx.ExecContext(ctx, "RELEASE SAVEPOINT "+sp)
	return true, err
}
