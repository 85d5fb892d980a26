package notebooks

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/colkey"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/catalog"
	"github.com/cofferhq/coffer/value"
)

// The audit log's entries about secret columns. Details name the
// notebook, table, column (and record) and the outcome, never a password.
const (
	EventColumnUnlocked     = "column.unlocked"
	EventColumnUnlockFailed = "column.unlock_failed"
	EventColumnLocked       = "column.locked"
	EventColumnPassword     = "column.password_changed"
	EventPasswordVerified   = "cell.password_verified"
)

// prepareEncryption turns the password of a new encrypted column into its
// encryption (salt, parameters, check value); the password itself is
// dropped. prefix names the column in errors ("columns[2]." or "").
func (s *Service) prepareEncryption(ctx context.Context, notebook, table string, in *coffer.ColumnInput, prefix string) error {
	if in.Type != coffer.TypeEncrypted {
		return nil
	}
	// Deriving a key costs argon2id's time and memory: only a caller who
	// may change the schema gets the server to do it (checked again in the
	// change's transaction).
	nc, err := s.OpenNotebook(ctx, notebook)
	if err != nil {
		return err
	}
	err = s.mayChangeSchema(ctx, nc, table)
	nc.Release()
	if err != nil {
		return err
	}
	return prepareEncryption(ctx, in, prefix)
}

// prepareEncryption derives the key of a new encrypted column from its
// password (see Service.prepareEncryption).
func prepareEncryption(ctx context.Context, in *coffer.ColumnInput, prefix string) error {
	if in.Type != coffer.TypeEncrypted {
		return nil
	}
	o := &in.Options
	switch {
	case o.Encryption != nil:
		return coffer.Invalid("the column is not valid", coffer.FieldError{Field: prefix + "options.encryption", Message: "is set by the server from options.password"})
	case o.CurrentPassword != "":
		return coffer.Invalid("the column is not valid", coffer.FieldError{Field: prefix + "options.current_password", Message: "applies only to a password change"})
	case o.Password == "":
		return coffer.Invalid("the column is not valid", coffer.FieldError{Field: prefix + "options.password", Message: "is required for an encrypted column (at least 12 characters)"})
	}
	if msg := colkey.CheckPassword(o.Password); msg != "" {
		return coffer.Invalid("the column is not valid", coffer.FieldError{Field: prefix + "options.password", Message: msg})
	}
	e, _, err := colkey.New(ctx, o.Password)
	if err != nil {
		return err
	}
	o.Password = ""
	o.Encryption = e
	return nil
}

// cellOf names the cell of column c of record id in tm.
func cellOf(tm *catalog.TableMeta, id string, c *coffer.Column) colkey.Cell {
	return colkey.Cell{Notebook: tm.Table.NotebookID, Table: tm.Table.ID, Record: id, Column: c.ID}
}

// lockedError is the refusal of a write of plaintext without the key.
func lockedError(c *coffer.Column) error {
	return coffer.Errorf(coffer.ELOCKED, "the column %q is encrypted and locked: give its password in the %s header (<column id>:<password>) or unlock it first, or send a value sealed by the client as {\"sealed\":\"…\"}", c.Name, colkey.HeaderName)
}

// sealAssignments seals the plaintexts written to encrypted columns of
// record id with the keys the request holds.
func sealAssignments(ctx context.Context, tm *catalog.TableMeta, id string, as []catalog.Assignment) error {
	for i, a := range as {
		p, ok := a.Value.(value.Plain)
		if !ok {
			continue
		}
		k, err := colkey.For(ctx, tm.Table.NotebookID, a.Col.Column)
		if err != nil {
			return err
		}
		if k == nil {
			return lockedError(a.Col.Column)
		}
		as[i].Value = colkey.Encode(k.Seal(cellOf(tm, id, a.Col.Column), []byte(p.Text())))
	}
	return nil
}

// openRecords replaces, in records of tm, the sealed values of the
// encrypted columns whose keys the request holds with their plaintext.
// A value that does not open is EINTEGRITY; a wrong header password EKEY.
func openRecords(ctx context.Context, tm *catalog.TableMeta, recs []*coffer.Record) error {
	if tm == nil || len(recs) == 0 {
		return nil
	}
	for _, cm := range tm.Cols {
		c := cm.Column
		if c.Type != coffer.TypeEncrypted {
			continue
		}
		var k *colkey.Key
		for _, r := range recs {
			if r == nil {
				continue
			}
			v, ok := r.Fields[c.Name].(value.Sealed)
			if !ok {
				continue
			}
			if k == nil {
				var err error
				if k, err = colkey.For(ctx, tm.Table.NotebookID, c); err != nil {
					return err
				}
				if k == nil {
					break
				}
			}
			b, ok := colkey.Decode(v.B64)
			if !ok {
				return colkey.ErrIntegrity
			}
			pt, err := k.Open(cellOf(tm, r.ID, c), b)
			if err != nil {
				return err
			}
			r.Fields[c.Name] = string(pt)
		}
	}
	return nil
}

// openInSchema is openRecords for a table named by id or name in sc.
func openInSchema(ctx context.Context, sc *catalog.Schema, table string, recs []*coffer.Record) error {
	tm, err := sc.Table(table)
	if err != nil {
		return nil // the read itself reported the table
	}
	return openRecords(ctx, tm, recs)
}

// sealedJSON reads a history value of an encrypted cell.
func sealedJSON(raw json.RawMessage) ([]byte, bool) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var v struct {
		Sealed string `json:"sealed"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return nil, false
	}
	return colkey.Decode(v.Sealed)
}

// openHistory replaces, in history entries, the sealed values of cells of
// encrypted columns whose keys the request holds with their plaintext (as
// JSON strings). A value that does not open stays sealed: history keeps
// what was written, even a value that was moved from another cell.
func openHistory(ctx context.Context, sc *catalog.Schema, entries []*coffer.HistoryEntry) error {
	keys := map[string]*colkey.Key{}
	for _, e := range entries {
		for _, ch := range e.Changes {
			if ch.ColumnID == "" {
				continue
			}
			tm := sc.ByID[ch.Table]
			if tm == nil {
				continue
			}
			cm := columnByID(tm, ch.ColumnID)
			if cm == nil || cm.Column.Type != coffer.TypeEncrypted {
				continue
			}
			k, seen := keys[ch.ColumnID]
			if !seen {
				var err error
				if k, err = colkey.For(ctx, tm.Table.NotebookID, cm.Column); err != nil {
					return err
				}
				keys[ch.ColumnID] = k
			}
			if k == nil {
				continue
			}
			for _, raw := range []*json.RawMessage{&ch.Old, &ch.New} {
				b, ok := sealedJSON(*raw)
				if !ok {
					continue
				}
				if pt, err := k.Open(cellOf(tm, ch.Record, cm.Column), b); err == nil {
					*raw, _ = json.Marshal(string(pt))
				}
			}
		}
	}
	return nil
}

// secretColumn finds a column of a table as the caller sees it, which
// must be of type t.
func (s *Service) secretColumn(ctx context.Context, notebook, table, column string, t coffer.ColumnType) (*coffer.Table, *coffer.Column, error) {
	tbl, err := s.FindTable(ctx, notebook, table)
	if err != nil {
		return nil, nil, err
	}
	c := tbl.Column(column)
	if c == nil {
		return nil, nil, errColumnNotFound
	}
	if c.Type != t {
		return nil, nil, coffer.Errorf(coffer.EINVALID, "the column %q is not of type %s", c.Name, t)
	}
	return tbl, c, nil
}

// UnlockColumn checks the password of an encrypted column and keeps its
// key in memory for the caller's session (or API key) until the returned
// moment. The caller must see the column (ENOTFOUND). EKEY for a wrong
// password. Every attempt goes into the audit log.
func (s *Service) UnlockColumn(ctx context.Context, notebook, table, column, password string) (time.Time, error) {
	c, err := store.Caller(ctx)
	if err != nil {
		return time.Time{}, err
	}
	holder := colkey.Holder(c)
	u := colkey.UnlocksFrom(ctx)
	if holder == "" || u == nil {
		return time.Time{}, coffer.Errorf(coffer.ESESSION, "unlocking a column needs a session or an API key")
	}
	tbl, col, err := s.secretColumn(ctx, notebook, table, column, coffer.TypeEncrypted)
	if err != nil {
		return time.Time{}, err
	}
	k, derr := colkey.Derive(ctx, col.Options.Encryption, password)
	kind := EventColumnUnlocked
	if derr != nil {
		kind = EventColumnUnlockFailed
	}
	detail := fmt.Sprintf("column %s of table %s of notebook %s", col.ID, tbl.ID, tbl.NotebookID)
	if err := s.secretEvent(ctx, kind, detail); err != nil {
		return time.Time{}, err
	}
	if derr != nil {
		return time.Time{}, derr
	}
	return u.Put(holder, tbl.NotebookID, col.ID, k), nil
}

// LockColumn forgets the key the caller's session holds for an encrypted
// column. ENOTFOUND for a column the caller does not see.
func (s *Service) LockColumn(ctx context.Context, notebook, table, column string) error {
	c, err := store.Caller(ctx)
	if err != nil {
		return err
	}
	tbl, col, err := s.secretColumn(ctx, notebook, table, column, coffer.TypeEncrypted)
	if err != nil {
		return err
	}
	if u := colkey.UnlocksFrom(ctx); u != nil {
		u.Lock(colkey.Holder(c), tbl.NotebookID, col.ID)
	}
	return nil
}

// VerifyCellPassword reports whether password matches the password cell
// of a record: the caller must read the record (ENOTFOUND) and the column
// (ENOTFOUND); a cell they may not read in that row, or an empty one,
// never matches. Every attempt goes into the audit log with its result.
func (s *Service) VerifyCellPassword(ctx context.Context, notebook, table, record, column, password string) (bool, error) {
	tbl, col, err := s.secretColumn(ctx, notebook, table, column, coffer.TypePassword)
	if err != nil {
		return false, err
	}
	r, err := s.FindRecord(ctx, notebook, tbl.ID, record)
	if err != nil {
		return false, err
	}
	match := false
	if h, ok := r.Fields[col.Name].(value.PasswordHash); ok {
		if match, err = value.VerifyPassword(ctx, h.Hash(), password); err != nil {
			return false, s.Wrap("VerifyCellPassword", err)
		}
	}
	detail := fmt.Sprintf("record %s column %s of table %s of notebook %s: match=%t", r.ID, col.ID, tbl.ID, tbl.NotebookID, match)
	if err := s.secretEvent(ctx, EventPasswordVerified, detail); err != nil {
		return false, err
	}
	return match, nil
}

// secretEvent writes an entry of the audit log for the caller.
func (s *Service) secretEvent(ctx context.Context, kind, detail string) error {
	c, err := store.Caller(ctx)
	if err != nil {
		return err
	}
	return s.Write(ctx, s.Inst, "secretEvent", func(tx *store.WriteTx) error {
		return s.Event(ctx, tx, kind, c.UserID, c.Email, detail)
	})
}

// changePassword re-encrypts every value of encrypted column cm, in the
// table and in the history, from the key of the current password to that
// of the new one, and returns the new encryption. EKEY when current is
// wrong; EINTEGRITY (nothing changes) when a value in the table does not
// open. Values in history that do not open stay as they are.
func (s *Service) changePassword(ctx context.Context, tx *store.WriteTx, prefix string, tm *catalog.TableMeta, cm *catalog.ColMeta, current, next string) (*coffer.ColumnEncryption, error) {
	if current == "" {
		return nil, coffer.Invalid("the column is not valid", coffer.FieldError{Field: "options.current_password", Message: "is required to change the password"})
	}
	if msg := colkey.CheckPassword(next); msg != "" {
		return nil, coffer.Invalid("the column is not valid", coffer.FieldError{Field: "options.password", Message: msg})
	}
	oldKey, err := colkey.Derive(ctx, cm.Column.Options.Encryption, current)
	if err != nil {
		return nil, err
	}
	enc, newKey, err := colkey.New(ctx, next)
	if err != nil {
		return nil, err
	}
	reseal := func(record string, b []byte) (string, error) {
		cell := cellOf(tm, record, cm.Column)
		pt, err := oldKey.Open(cell, b)
		if err != nil {
			return "", err
		}
		return colkey.Encode(newKey.Seal(cell, pt)), nil
	}
	type row struct{ id, v string }
	var rows []row
	q, err := tx.QueryContext(ctx, "SELECT id, "+cm.Phys+" FROM "+tm.SQL+" WHERE "+cm.Phys+" IS NOT NULL")
	if err != nil {
		return nil, err
	}
	for q.Next() {
		var r row
		if err := q.Scan(&r.id, &r.v); err != nil {
			q.Close()
			return nil, err
		}
		rows = append(rows, r)
	}
	q.Close()
	if err := q.Err(); err != nil {
		return nil, err
	}
	upd := s.Rebind("UPDATE " + tm.SQL + " SET " + cm.Phys + " = ? WHERE id = ?")
	for _, r := range rows {
		b, ok := colkey.Decode(r.v)
		if !ok {
			return nil, colkey.ErrIntegrity
		}
		v, err := reseal(r.id, b)
		if err != nil {
			return nil, &coffer.Error{Code: coffer.EINTEGRITY, Message: fmt.Sprintf("the value of record %s does not open under the current password: clear or rewrite it first", r.id)}
		}
		if _, err := tx.ExecContext(ctx, upd, v, r.id); err != nil {
			return nil, err
		}
	}
	if err := s.resealHistory(ctx, tx, prefix, tm, cm, reseal); err != nil {
		return nil, err
	}
	return enc, nil
}

// resealHistory re-encrypts the values of column cm kept in history.
func (s *Service) resealHistory(ctx context.Context, tx *store.WriteTx, prefix string, tm *catalog.TableMeta, cm *catalog.ColMeta, reseal func(record string, b []byte) (string, error)) error {
	type change struct {
		seq, n   int64
		record   string
		old, new *string
	}
	var cs []change
	q, err := tx.QueryContext(ctx, s.Rebind("SELECT seq, n, record_id, old, new FROM "+prefix+"_changes WHERE table_id = ? AND column_id = ?"), tm.Table.ID, cm.Column.ID)
	if err != nil {
		return err
	}
	for q.Next() {
		var c change
		if err := q.Scan(&c.seq, &c.n, &c.record, &c.old, &c.new); err != nil {
			q.Close()
			return err
		}
		cs = append(cs, c)
	}
	q.Close()
	if err := q.Err(); err != nil {
		return err
	}
	upd := s.Rebind("UPDATE " + prefix + "_changes SET old = ?, new = ? WHERE seq = ? AND n = ?")
	for _, c := range cs {
		changed := false
		for _, p := range []**string{&c.old, &c.new} {
			if *p == nil {
				continue
			}
			b, ok := sealedJSON(json.RawMessage(**p))
			if !ok {
				continue
			}
			v, err := reseal(c.record, b)
			if err != nil {
				continue
			}
			j, _ := json.Marshal(value.Sealed{B64: v})
			s := string(j)
			*p, changed = &s, true
		}
		if changed {
			if _, err := tx.ExecContext(ctx, upd, c.old, c.new, c.seq, c.n); err != nil {
				return err
			}
		}
	}
	return nil
}
