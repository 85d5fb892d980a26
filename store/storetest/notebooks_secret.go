package storetest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/colkey"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/value"
)

// The passwords and plaintexts of the secret-column suite; the scans look
// for them in the stored bytes.
const (
	secretColPassword = "column password 1"
	secretPlain       = "plaintext-of-the-encrypted-cell-42"
	secretCellPass    = "extranet-password-of-a-contact-77"
)

// secretEnv is a notebook with a table of a text, an encrypted and a
// password column.
type secretEnv struct {
	*setup
	tbl             *coffer.Table
	enc, pass, name *coffer.Column
}

func newSecretEnv(t *testing.T, s *all.Store, name string) *secretEnv {
	t.Helper()
	e := newSetup(t, s, name)
	tbl := MustTable(t, e.ctx, s, e.nb, "People", col("Name", coffer.TypeText),
		coffer.ColumnInput{Name: "Secret", Type: coffer.TypeEncrypted, Options: coffer.ColumnOptions{Password: secretColPassword}},
		col("Login", coffer.TypePassword))
	return &secretEnv{setup: e, tbl: tbl, name: tbl.Column("Name"), enc: tbl.Column("Secret"), pass: tbl.Column("Login")}
}

// keyed is ctx with the column password as X-Coffer-Column-Key carries it.
func (e *secretEnv) keyed(ctx context.Context, password string) context.Context {
	return colkey.WithRequest(ctx, map[string]string{e.enc.ID: password}, nil)
}

func testSecretColumns(t *testing.T, open Opener) {
	s := open(t)

	t.Run("Create", func(t *testing.T) {
		t.Parallel()
		e := newSecretEnv(t, s, "SecretCreate")
		b, _ := json.Marshal(e.tbl)
		if strings.Contains(string(b), secretColPassword) || strings.Contains(string(b), `"password":`) {
			t.Fatalf("the table echoes the password: %s", b)
		}
		enc := e.enc.Options.Encryption
		if enc == nil || enc.KDF != "argon2id" || enc.Memory < 19*1024 || enc.Time < 2 || enc.Salt == "" || enc.Check == "" {
			t.Fatalf("encryption = %+v", enc)
		}
		found, err := s.FindTable(e.ctx, e.nb, e.tbl.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := found.Column("Secret").Options.Encryption; got == nil || got.Salt != enc.Salt {
			t.Fatalf("stored encryption = %+v", got)
		}
		for _, c := range []struct {
			opts  coffer.ColumnOptions
			field string
		}{
			{coffer.ColumnOptions{}, "options.password"},
			{coffer.ColumnOptions{Password: "too short"}, "options.password"},
			{coffer.ColumnOptions{Password: secretColPassword, Encryption: enc}, "options.encryption"},
		} {
			_, err := s.CreateColumn(e.ctx, e.nb, e.tbl.ID, coffer.ColumnInput{Name: "S2", Type: coffer.TypeEncrypted, Options: c.opts})
			if coffer.ErrorCode(err) != coffer.EINVALID || len(coffer.ErrorFields(err)) != 1 || coffer.ErrorFields(err)[0].Field != c.field {
				t.Errorf("CreateColumn(%+v) = %v %v; want invalid on %s", c.opts, err, coffer.ErrorFields(err), c.field)
			}
		}
		// A caller without the schema right is refused before any key is
		// derived: even a valid password gets forbidden, and so does an
		// invalid one (no argon2id work, no validation oracle).
		sctx, stranger := MustUser(t, s)
		if _, err := s.CreateGrant(e.ctx, e.nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: stranger.ID}, Columns: map[string]string{"*": "write"}}); err != nil {
			t.Fatal(err)
		}
		for _, pw := range []string{secretColPassword, "short"} {
			_, err := s.CreateColumn(sctx, e.nb, e.tbl.ID, coffer.ColumnInput{Name: "S3", Type: coffer.TypeEncrypted, Options: coffer.ColumnOptions{Password: pw}})
			if coffer.ErrorCode(err) != coffer.EFORBIDDEN {
				t.Errorf("CreateColumn by an editor (password %q) = %v; want forbidden", pw, err)
			}
			_, err = s.CreateTable(sctx, e.nb, coffer.TableInput{Name: "T3", Columns: []coffer.ColumnInput{{Name: "S", Type: coffer.TypeEncrypted, Options: coffer.ColumnOptions{Password: pw}}}})
			if coffer.ErrorCode(err) != coffer.EFORBIDDEN {
				t.Errorf("CreateTable by an editor (password %q) = %v; want forbidden", pw, err)
			}
		}
		_, err = s.CreateColumn(e.ctx, e.nb, e.tbl.ID, coffer.ColumnInput{Name: "T2", Type: coffer.TypeText, Options: coffer.ColumnOptions{Password: secretColPassword}})
		if coffer.ErrorCode(err) != coffer.EINVALID {
			t.Errorf("a password on a text column: %v; want invalid", err)
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		e := newSecretEnv(t, s, "SecretRoundTrip")
		// Without the key a plaintext is refused and nothing is written.
		_, err := s.CreateRecord(e.ctx, e.nb, e.tbl.ID, map[string]any{"Name": "a", "Secret": secretPlain})
		if coffer.ErrorCode(err) != coffer.ELOCKED {
			t.Fatalf("write without the key: %v; want column_locked", err)
		}
		if l := MustList(t, e.ctx, s, e.nb, e.tbl.ID, coffer.ListQuery{}); len(l.Records) != 0 {
			t.Fatalf("a refused write left %d records", len(l.Records))
		}
		// A wrong password is an error, not garbage.
		_, err = s.CreateRecord(e.keyed(e.ctx, "not the password!"), e.nb, e.tbl.ID, map[string]any{"Secret": secretPlain})
		if coffer.ErrorCode(err) != coffer.EKEY {
			t.Fatalf("write with a wrong password: %v; want column_key_invalid", err)
		}
		kctx := e.keyed(e.ctx, secretColPassword)
		r, err := s.CreateRecord(kctx, e.nb, e.tbl.ID, map[string]any{"Name": "a", "Secret": secretPlain, "Login": secretCellPass})
		if err != nil {
			t.Fatal(err)
		}
		if r.Fields["Secret"] != secretPlain {
			t.Fatalf("created record reads %#v", r.Fields["Secret"])
		}
		empty := MustRecord(t, e.ctx, s, e.nb, e.tbl.ID, map[string]any{"Name": "empty"})
		got := MustFindRecord(t, kctx, s, e.nb, e.tbl.ID, r.ID)
		if got.Fields["Secret"] != secretPlain {
			t.Fatalf("read with the key: %#v", got.Fields["Secret"])
		}
		list := MustList(t, kctx, s, e.nb, e.tbl.ID, coffer.ListQuery{})
		if len(list.Records) != 2 || list.Records[0].Fields["Secret"] != secretPlain || list.Records[1].Fields["Secret"] != nil {
			t.Fatalf("list with the key: %v", list.Records)
		}
		locked := MustFindRecord(t, e.ctx, s, e.nb, e.tbl.ID, r.ID)
		j, _ := json.Marshal(locked)
		if strings.Contains(string(j), secretPlain) || !strings.Contains(string(j), `"Secret":{"locked":true,"sealed":"`) {
			t.Fatalf("read without the key: %s", j)
		}
		if !strings.Contains(string(j), `"Login":{"set":true}`) || strings.Contains(string(j), "argon2") {
			t.Fatalf("password cell reads: %s", j)
		}
		j, _ = json.Marshal(MustFindRecord(t, e.ctx, s, e.nb, e.tbl.ID, empty.ID))
		if !strings.Contains(string(j), `"Secret":null`) || !strings.Contains(string(j), `"Login":null`) {
			t.Fatalf("empty secret cells read: %s", j)
		}
		if _, err := s.FindRecord(e.keyed(e.ctx, "not the password!"), e.nb, e.tbl.ID, r.ID); coffer.ErrorCode(err) != coffer.EKEY {
			t.Fatalf("read with a wrong password: %v; want column_key_invalid", err)
		}
		// Update with the key; a batch too.
		up, err := s.UpdateRecord(kctx, e.nb, e.tbl.ID, r.ID, map[string]any{"Secret": "second"}, 0)
		if err != nil || up.Fields["Secret"] != "second" {
			t.Fatalf("update: %v %v", up, err)
		}
		if _, err := s.UpdateRecord(e.ctx, e.nb, e.tbl.ID, r.ID, map[string]any{"Secret": "third"}, 0); coffer.ErrorCode(err) != coffer.ELOCKED {
			t.Fatalf("update without the key: %v", err)
		}
		br, err := s.Batch(kctx, e.nb, e.tbl.ID, []coffer.BatchOp{{Op: coffer.OpCreate, Fields: map[string]any{"Secret": "in a batch"}}})
		if err != nil || br.Results[0].Fields["Secret"] != "in a batch" {
			t.Fatalf("batch: %v %v", br, err)
		}
	})

	t.Run("Unlock", func(t *testing.T) {
		t.Parallel()
		e := newSecretEnv(t, s, "SecretUnlock")
		r := MustRecord(t, e.keyed(e.ctx, secretColPassword), s, e.nb, e.tbl.ID, map[string]any{"Secret": secretPlain})
		u := colkey.NewUnlocks()
		c := *coffer.CallerFrom(e.ctx)
		c.SessionID = "ses_test_1"
		sctx := colkey.WithRequest(coffer.WithCaller(context.Background(), &c), nil, u)
		if _, err := s.UnlockColumn(sctx, e.nb, e.tbl.ID, "Secret", "wrong password!!"); coffer.ErrorCode(err) != coffer.EKEY {
			t.Fatalf("unlock with a wrong password: %v", err)
		}
		if _, err := s.UnlockColumn(sctx, e.nb, e.tbl.ID, "Login", secretColPassword); coffer.ErrorCode(err) != coffer.EINVALID {
			t.Fatalf("unlock of a password column: %v", err)
		}
		if _, err := s.UnlockColumn(sctx, e.nb, e.tbl.ID, "Nope", secretColPassword); coffer.ErrorCode(err) != coffer.ENOTFOUND {
			t.Fatalf("unlock of a missing column: %v", err)
		}
		if _, err := s.UnlockColumn(sctx, e.nb, e.tbl.ID, "Secret", secretColPassword); err != nil {
			t.Fatal(err)
		}
		if got := MustFindRecord(t, sctx, s, e.nb, e.tbl.ID, r.ID).Fields["Secret"]; got != secretPlain {
			t.Fatalf("read after unlock: %#v", got)
		}
		// Another session of the same person stays locked.
		c2 := c
		c2.SessionID = "ses_test_2"
		other := colkey.WithRequest(coffer.WithCaller(context.Background(), &c2), nil, u)
		if _, ok := MustFindRecord(t, other, s, e.nb, e.tbl.ID, r.ID).Fields["Secret"].(value.Sealed); !ok {
			t.Fatal("another session reads the plaintext")
		}
		if err := s.LockColumn(sctx, e.nb, e.tbl.ID, "Secret"); err != nil {
			t.Fatal(err)
		}
		if _, ok := MustFindRecord(t, sctx, s, e.nb, e.tbl.ID, r.ID).Fields["Secret"].(value.Sealed); !ok {
			t.Fatal("read after lock is not locked")
		}
	})

	t.Run("MovedValue", func(t *testing.T) {
		t.Parallel()
		e := newSecretEnv(t, s, "SecretMoved")
		kctx := e.keyed(e.ctx, secretColPassword)
		a := MustRecord(t, kctx, s, e.nb, e.tbl.ID, map[string]any{"Name": "a", "Secret": secretPlain})
		b := MustRecord(t, kctx, s, e.nb, e.tbl.ID, map[string]any{"Name": "b", "Secret": "other"})
		// Copied by SQL into another record's cell.
		be := s.Backend()
		db, release, err := be.Notebook(e.ctx, e.nb)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		tsql := db.Prefix + `"t_` + strings.TrimPrefix(e.tbl.ID, coffer.PrefixTable) + `"`
		csql := `"c_` + strings.TrimPrefix(e.enc.ID, coffer.PrefixColumn) + `"`
		var stored string
		if err := db.R.QueryRowContext(e.ctx, be.Dialect().Rebind("SELECT "+csql+" FROM "+tsql+" WHERE id = ?"), a.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored, secretPlain) {
			t.Fatal("plaintext stored")
		}
		if _, err := db.W.ExecContext(e.ctx, be.Dialect().Rebind("UPDATE "+tsql+" SET "+csql+" = ? WHERE id = ?"), stored, b.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.FindRecord(kctx, e.nb, e.tbl.ID, b.ID); coffer.ErrorCode(err) != coffer.EINTEGRITY {
			t.Fatalf("read of a moved value: %v; want integrity_failed", err)
		}
		if got := MustFindRecord(t, kctx, s, e.nb, e.tbl.ID, a.ID).Fields["Secret"]; got != secretPlain {
			t.Fatalf("the original still opens: %#v", got)
		}
		// Written through the API as a sealed value into another record.
		c := MustRecord(t, e.ctx, s, e.nb, e.tbl.ID, map[string]any{"Secret": map[string]any{"sealed": stored}})
		if _, err := s.FindRecord(kctx, e.nb, e.tbl.ID, c.ID); coffer.ErrorCode(err) != coffer.EINTEGRITY {
			t.Fatalf("read of a value sealed for another record: %v; want integrity_failed", err)
		}
		if _, err := s.CreateRecord(e.ctx, e.nb, e.tbl.ID, map[string]any{"Secret": map[string]any{"sealed": "bm90IHNlYWxlZA=="}}); coffer.ErrorCode(err) != coffer.EINVALID {
			t.Fatalf("a malformed sealed value: %v; want invalid", err)
		}
	})

	t.Run("DeleteAndRestore", func(t *testing.T) {
		t.Parallel()
		e := newSecretEnv(t, s, "SecretRestore")
		kctx := e.keyed(e.ctx, secretColPassword)
		r := MustRecord(t, kctx, s, e.nb, e.tbl.ID, map[string]any{"Secret": secretPlain, "Login": secretCellPass})
		for _, c := range []string{e.enc.ID, e.pass.ID} {
			if err := s.DeleteColumn(e.ctx, e.nb, e.tbl.ID, c); err != nil {
				t.Fatal(err)
			}
			if _, err := s.RestoreColumn(e.ctx, e.nb, c); err != nil {
				t.Fatalf("restore column: %v", err)
			}
		}
		if got := MustFindRecord(t, kctx, s, e.nb, e.tbl.ID, r.ID).Fields["Secret"]; got != secretPlain {
			t.Fatalf("after restoring the column: %#v", got)
		}
		if ok, err := s.VerifyCellPassword(e.ctx, e.nb, e.tbl.ID, r.ID, "Login", secretCellPass); err != nil || !ok {
			t.Fatalf("password after restoring the column: %v %v", ok, err)
		}
		if err := s.DeleteTable(e.ctx, e.nb, e.tbl.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RestoreTable(e.ctx, e.nb, e.tbl.ID); err != nil {
			t.Fatalf("restore table: %v", err)
		}
		if got := MustFindRecord(t, kctx, s, e.nb, e.tbl.ID, r.ID).Fields["Secret"]; got != secretPlain {
			t.Fatalf("after restoring the table: %#v", got)
		}
		if ok, err := s.VerifyCellPassword(e.ctx, e.nb, e.tbl.ID, r.ID, "Login", secretCellPass); err != nil || !ok {
			t.Fatalf("password after restoring the table: %v %v", ok, err)
		}
	})

	t.Run("FilterSortRefused", func(t *testing.T) {
		t.Parallel()
		e := newSecretEnv(t, s, "SecretFilter")
		kctx := e.keyed(e.ctx, secretColPassword)
		for _, q := range []coffer.ListQuery{
			{Filter: `Secret = "x"`}, {Filter: `Secret is null`}, {Filter: `Secret ~ "x"`}, {Sort: "Secret"}, {Sort: "-Secret"},
			{Filter: `Login = "x"`}, {Filter: `Login is null`}, {Sort: "Login"},
		} {
			_, err := s.FindRecords(kctx, e.nb, e.tbl.ID, q)
			if coffer.ErrorCode(err) != coffer.EINVALID || !strings.Contains(fmt.Sprint(coffer.ErrorMessage(err), coffer.ErrorFields(err)), "cannot be") {
				t.Errorf("FindRecords(%+v) = %v %v; want invalid", q, err, coffer.ErrorFields(err))
			}
		}
		if _, err := s.CreateView(e.ctx, e.nb, e.tbl.ID, coffer.ViewInput{Name: "V", Filter: `Secret = "x"`}); coffer.ErrorCode(err) != coffer.EINVALID {
			t.Errorf("view filtering on an encrypted column: %v", err)
		}
		if _, err := s.CreateIndex(e.ctx, e.nb, e.tbl.ID, coffer.IndexInput{Columns: []string{"Secret"}}); coffer.ErrorCode(err) != coffer.EINVALID {
			t.Errorf("index over an encrypted column: %v", err)
		}
	})

	t.Run("TypeChangesRefused", func(t *testing.T) {
		t.Parallel()
		e := newSecretEnv(t, s, "SecretTypes")
		for _, c := range []struct {
			col string
			to  coffer.ColumnType
		}{{"Secret", coffer.TypeText}, {"Login", coffer.TypeText}, {"Name", coffer.TypeEncrypted}, {"Name", coffer.TypePassword}, {"Secret", coffer.TypePassword}} {
			to := c.to
			if _, err := s.UpdateColumn(e.ctx, e.nb, e.tbl.ID, c.col, coffer.ColumnUpdate{Type: &to}); coffer.ErrorCode(err) != coffer.EINVALID {
				t.Errorf("%s to %s: %v; want invalid", c.col, to, err)
			}
		}
		name := "Renamed secret"
		c, err := s.UpdateColumn(e.ctx, e.nb, e.tbl.ID, "Secret", coffer.ColumnUpdate{Name: &name})
		if err != nil || c.Options.Encryption == nil || c.Options.Encryption.Check != e.enc.Options.Encryption.Check {
			t.Fatalf("rename of an encrypted column: %+v %v", c, err)
		}
	})

	t.Run("PasswordChange", func(t *testing.T) {
		t.Parallel()
		e := newSecretEnv(t, s, "SecretPasswordChange")
		kctx := e.keyed(e.ctx, secretColPassword)
		r := MustRecord(t, kctx, s, e.nb, e.tbl.ID, map[string]any{"Secret": "first"})
		if _, err := s.UpdateRecord(kctx, e.nb, e.tbl.ID, r.ID, map[string]any{"Secret": secretPlain}, 0); err != nil {
			t.Fatal(err)
		}
		const next = "the next column password"
		if _, err := s.UpdateColumn(e.ctx, e.nb, e.tbl.ID, "Secret", coffer.ColumnUpdate{Options: &coffer.ColumnOptions{Password: next, CurrentPassword: "wrong password!!"}}); coffer.ErrorCode(err) != coffer.EKEY {
			t.Fatalf("change with a wrong current password: %v", err)
		}
		if _, err := s.UpdateColumn(e.ctx, e.nb, e.tbl.ID, "Secret", coffer.ColumnUpdate{Options: &coffer.ColumnOptions{Password: next}}); coffer.ErrorCode(err) != coffer.EINVALID {
			t.Fatalf("change without the current password: %v", err)
		}
		before := MustFindRecord(t, e.ctx, s, e.nb, e.tbl.ID, r.ID).Fields["Secret"].(value.Sealed)
		c, err := s.UpdateColumn(e.ctx, e.nb, e.tbl.ID, "Secret", coffer.ColumnUpdate{Options: &coffer.ColumnOptions{Password: next, CurrentPassword: secretColPassword}})
		if err != nil {
			t.Fatal(err)
		}
		if c.Options.Encryption.Salt == e.enc.Options.Encryption.Salt {
			t.Fatal("the salt did not change")
		}
		after := MustFindRecord(t, e.ctx, s, e.nb, e.tbl.ID, r.ID).Fields["Secret"].(value.Sealed)
		if after.B64 == before.B64 {
			t.Fatal("the value was not re-encrypted")
		}
		if _, err := s.FindRecord(kctx, e.nb, e.tbl.ID, r.ID); coffer.ErrorCode(err) != coffer.EKEY {
			t.Fatalf("old password after the change: %v; want column_key_invalid", err)
		}
		nctx := e.keyed(e.ctx, next)
		if got := MustFindRecord(t, nctx, s, e.nb, e.tbl.ID, r.ID).Fields["Secret"]; got != secretPlain {
			t.Fatalf("new password reads %#v", got)
		}
		// History was re-encrypted too: it opens with the new key.
		page, err := s.FindHistory(nctx, e.nb, coffer.HistoryQuery{Table: e.tbl.ID, Record: r.ID})
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		for _, en := range page.Entries {
			for _, ch := range en.Changes {
				if ch.ColumnID == e.enc.ID {
					seen = append(seen, string(ch.Old), string(ch.New))
				}
			}
		}
		if want := fmt.Sprintf("%q", secretPlain); !strings.Contains(strings.Join(seen, " "), want) || !strings.Contains(strings.Join(seen, " "), `"first"`) {
			t.Fatalf("history with the new key: %v", seen)
		}
	})

	t.Run("History", func(t *testing.T) {
		t.Parallel()
		e := newSecretEnv(t, s, "SecretHistory")
		kctx := e.keyed(e.ctx, secretColPassword)
		r := MustRecord(t, kctx, s, e.nb, e.tbl.ID, map[string]any{"Secret": secretPlain, "Login": secretCellPass})
		if _, err := s.UpdateRecord(kctx, e.nb, e.tbl.ID, r.ID, map[string]any{"Secret": "changed", "Login": "another one"}, 0); err != nil {
			t.Fatal(err)
		}
		locked, err := s.FindHistory(e.ctx, e.nb, coffer.HistoryQuery{Table: e.tbl.ID, Record: r.ID})
		if err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal(locked)
		if strings.Contains(string(j), secretPlain) || strings.Contains(string(j), "argon2") || !strings.Contains(string(j), `"locked":true`) || !strings.Contains(string(j), `{"set":true}`) {
			t.Fatalf("history without the key: %s", j)
		}
		open, err := s.FindHistory(kctx, e.nb, coffer.HistoryQuery{Table: e.tbl.ID, Record: r.ID})
		if err != nil {
			t.Fatal(err)
		}
		j, _ = json.Marshal(open)
		if !strings.Contains(string(j), secretPlain) || strings.Contains(string(j), "argon2") {
			t.Fatalf("history with the key: %s", j)
		}
		// A cell unchanged since reads as it is now at any past moment.
		if ok, err := s.VerifyCellPassword(e.ctx, e.nb, e.tbl.ID, r.ID, "Login", "another one"); err != nil || !ok {
			t.Fatalf("verify: %v %v", ok, err)
		}
		other := MustRecord(t, kctx, s, e.nb, e.tbl.ID, map[string]any{"Secret": "never changed", "Login": "x"})
		if _, err := s.UpdateRecord(kctx, e.nb, e.tbl.ID, other.ID, map[string]any{"Name": "renamed"}, 0); err != nil {
			t.Fatal(err)
		}
		h, err := s.FindHistory(e.ctx, e.nb, coffer.HistoryQuery{Table: e.tbl.ID, Record: other.ID})
		if err != nil {
			t.Fatal(err)
		}
		unchanged, err := s.FindRecordAsOf(kctx, e.nb, e.tbl.ID, other.ID, &coffer.AsOf{Seq: h.Entries[0].Seq})
		if err != nil || unchanged.Fields["Secret"] != "never changed" {
			t.Fatalf("as of now, an unchanged encrypted cell: %v %v", unchanged, err)
		}
		if _, ok := unchanged.Fields["Login"].(value.PasswordHash); !ok {
			t.Fatalf("as of now, an unchanged password cell: %#v", unchanged.Fields["Login"])
		}
		// As of the first write: sealed without the key, plaintext with it.
		first := open.Entries[len(open.Entries)-1].Seq
		past, err := s.FindRecordAsOf(kctx, e.nb, e.tbl.ID, r.ID, &coffer.AsOf{Seq: first})
		if err != nil || past.Fields["Secret"] != secretPlain {
			t.Fatalf("as of %d with the key: %v %v", first, past, err)
		}
		pastList, err := s.FindRecordsAsOf(e.ctx, e.nb, e.tbl.ID, coffer.ListQuery{AsOf: &coffer.AsOf{Seq: first}})
		if err != nil || len(pastList.Records) != 1 {
			t.Fatalf("as of %d: %v %v", first, pastList, err)
		}
		if _, ok := pastList.Records[0].Fields["Secret"].(value.Sealed); !ok {
			t.Fatalf("as of %d without the key: %#v", first, pastList.Records[0].Fields["Secret"])
		}
		var buf strings.Builder
		if err := s.ExportHistory(kctx, e.nb, coffer.HistoryQuery{Table: e.tbl.ID}, coffer.HistoryJSON, &buf); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), secretPlain) || strings.Contains(buf.String(), "argon2") {
			t.Fatalf("history export: %s", buf.String())
		}
		// Undo puts back the sealed value and the hash.
		if err := s.DeleteRecord(e.ctx, e.nb, e.tbl.ID, r.ID, 0); err != nil {
			t.Fatal(err)
		}
		trash, err := s.FindTrash(e.ctx, e.nb, e.tbl.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		j, _ = json.Marshal(trash)
		if strings.Contains(string(j), "argon2") || strings.Contains(string(j), "changed") || !strings.Contains(string(j), `"Login":{"set":true}`) || !strings.Contains(string(j), `"locked":true`) {
			t.Fatalf("trash: %s", j)
		}
		if _, err := s.Undo(e.ctx, e.nb, coffer.UndoOptions{}); err != nil {
			t.Fatalf("undo of the delete: %v", err)
		}
		back := MustFindRecord(t, kctx, s, e.nb, e.tbl.ID, r.ID)
		if back.Fields["Secret"] != "changed" {
			t.Fatalf("after undo: %#v", back.Fields["Secret"])
		}
		if ok, err := s.VerifyCellPassword(e.ctx, e.nb, e.tbl.ID, r.ID, "Login", "another one"); err != nil || !ok {
			t.Fatalf("password after undo: %v %v", ok, err)
		}
		// Undo of an update of both cells brings both back (compare and set
		// on the sealed value and on the hash).
		if _, err := s.UpdateRecord(kctx, e.nb, e.tbl.ID, r.ID, map[string]any{"Secret": "third", "Login": "third password"}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Undo(e.ctx, e.nb, coffer.UndoOptions{}); err != nil {
			t.Fatalf("undo of the update: %v", err)
		}
		if got := MustFindRecord(t, kctx, s, e.nb, e.tbl.ID, r.ID).Fields["Secret"]; got != "changed" {
			t.Fatalf("after undo of the update: %#v", got)
		}
		if ok, err := s.VerifyCellPassword(e.ctx, e.nb, e.tbl.ID, r.ID, "Login", "another one"); err != nil || !ok {
			t.Fatalf("password after undo of the update: %v %v", ok, err)
		}
		if _, err := s.Redo(e.ctx, e.nb, coffer.UndoOptions{}); err != nil {
			t.Fatalf("redo: %v", err)
		}
		if ok, err := s.VerifyCellPassword(e.ctx, e.nb, e.tbl.ID, r.ID, "Login", "third password"); err != nil || !ok {
			t.Fatalf("password after redo: %v %v", ok, err)
		}
	})

	t.Run("HiddenStaysHidden", func(t *testing.T) {
		t.Parallel()
		e := newSecretEnv(t, s, "SecretHidden")
		r := MustRecord(t, e.keyed(e.ctx, secretColPassword), s, e.nb, e.tbl.ID, map[string]any{"Name": "n", "Secret": secretPlain, "Login": secretCellPass})
		dctx, dave := MustUser(t, s)
		if _, err := s.CreateGrant(e.ctx, e.nb, coffer.GrantInput{
			Principal: coffer.Principal{Type: "user", ID: dave.ID}, Table: strp("People"),
			Columns: map[string]string{"Secret": "none", "Login": "none", "*": "read"},
		}); err != nil {
			t.Fatal(err)
		}
		// With the right password, the hidden column stays hidden: the
		// password does not bypass grants.
		kd := e.keyed(dctx, secretColPassword)
		got := MustFindRecord(t, kd, s, e.nb, e.tbl.ID, r.ID)
		j, _ := json.Marshal(got)
		if _, ok := got.Fields["Secret"]; ok || strings.Contains(string(j), secretPlain) || strings.Contains(string(j), "Login") {
			t.Fatalf("a hidden column reads: %s", j)
		}
		for _, c := range []string{"Secret", e.enc.ID} {
			if _, err := s.UnlockColumn(colkey.WithRequest(kd, nil, colkey.NewUnlocks()), e.nb, e.tbl.ID, c, secretColPassword); coffer.ErrorCode(err) != coffer.ESESSION && coffer.ErrorCode(err) != coffer.ENOTFOUND {
				t.Errorf("unlock of a hidden column: %v", err)
			}
		}
		dc := *coffer.CallerFrom(dctx)
		dc.SessionID = "ses_dave"
		sd := colkey.WithRequest(coffer.WithCaller(context.Background(), &dc), nil, colkey.NewUnlocks())
		if _, err := s.UnlockColumn(sd, e.nb, e.tbl.ID, "Secret", secretColPassword); coffer.ErrorCode(err) != coffer.ENOTFOUND {
			t.Errorf("unlock of a hidden column: %v; want not_found", err)
		}
		if _, err := s.VerifyCellPassword(dctx, e.nb, e.tbl.ID, r.ID, "Login", secretCellPass); coffer.ErrorCode(err) != coffer.ENOTFOUND {
			t.Errorf("verify on a hidden column: %v; want not_found", err)
		}
		_, err := s.FindRecords(kd, e.nb, e.tbl.ID, coffer.ListQuery{Filter: `Secret = "x"`})
		if coffer.ErrorCode(err) != coffer.EINVALID || strings.Contains(fmt.Sprint(err, coffer.ErrorFields(err)), "encrypted") {
			t.Errorf("filter on a hidden encrypted column: %v %v; want unknown column", err, coffer.ErrorFields(err))
		}
		if _, err := s.UpdateRecord(kd, e.nb, e.tbl.ID, r.ID, map[string]any{"Secret": "x"}, 0); coffer.ErrorCode(err) == "" {
			t.Error("a write to a hidden column passed")
		}
	})

	t.Run("Verify", func(t *testing.T) {
		t.Parallel()
		e := newSecretEnv(t, s, "SecretVerify")
		r := MustRecord(t, e.ctx, s, e.nb, e.tbl.ID, map[string]any{"Login": secretCellPass})
		empty := MustRecord(t, e.ctx, s, e.nb, e.tbl.ID, map[string]any{"Name": "x"})
		for _, c := range []struct {
			rec, pw string
			want    bool
		}{{r.ID, secretCellPass, true}, {r.ID, secretCellPass + "x", false}, {r.ID, "", false}, {empty.ID, "", false}, {empty.ID, "anything", false}} {
			got, err := s.VerifyCellPassword(e.ctx, e.nb, e.tbl.ID, c.rec, "Login", c.pw)
			if err != nil || got != c.want {
				t.Errorf("verify(%s, %q) = %v, %v; want %v", c.rec, c.pw, got, err, c.want)
			}
		}
		if _, err := s.VerifyCellPassword(e.ctx, e.nb, e.tbl.ID, coffer.NewID(coffer.PrefixRecord), "Login", "x"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
			t.Errorf("verify on a missing record: %v", err)
		}
		if _, err := s.VerifyCellPassword(e.ctx, e.nb, e.tbl.ID, r.ID, "Name", "x"); coffer.ErrorCode(err) != coffer.EINVALID {
			t.Errorf("verify on a text column: %v", err)
		}
	})

	t.Run("NoPlaintextStored", func(t *testing.T) {
		t.Parallel()
		e := newSecretEnv(t, s, "SecretScan")
		kctx := e.keyed(e.ctx, secretColPassword)
		r := MustRecord(t, kctx, s, e.nb, e.tbl.ID, map[string]any{"Name": "visible-marker", "Secret": secretPlain, "Login": secretCellPass})
		if _, err := s.UpdateRecord(kctx, e.nb, e.tbl.ID, r.ID, map[string]any{"Secret": secretPlain + "-2", "Login": secretCellPass + "-2"}, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteRecord(e.ctx, e.nb, e.tbl.ID, r.ID, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.VerifyCellPassword(e.ctx, e.nb, e.tbl.ID, MustRecord(t, e.ctx, s, e.nb, e.tbl.ID, map[string]any{"Login": secretCellPass}).ID, "Login", secretCellPass); err != nil {
			t.Fatal(err)
		}
		dump := dumpStore(t, s, e.nb)
		if !strings.Contains(dump, "visible-marker") {
			t.Fatal("the scan does not see stored text")
		}
		for _, secret := range []string{secretPlain, secretCellPass, secretColPassword} {
			if strings.Contains(dump, secret) {
				t.Errorf("%q is stored in clear", secret)
			}
		}
	})
}

// dumpStore returns the text of every row of every table of the instance
// and of notebook nb, as the database returns it.
func dumpStore(t *testing.T, s *all.Store, nb string) string {
	t.Helper()
	ctx := context.Background()
	be := s.Backend()
	db, release, err := be.Notebook(ctx, nb)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	var out strings.Builder
	for _, d := range []struct {
		q      *sql.DB
		prefix string
	}{{db.R, db.Prefix}, {s.Inst.R, s.Inst.Prefix}} {
		var list string
		schema := strings.Trim(strings.TrimSuffix(d.prefix, "."), `"`)
		if be.Dialect().Name() == "sqlite" {
			list = "SELECT name FROM sqlite_master WHERE type = 'table'"
		} else {
			list = "SELECT tablename FROM pg_tables WHERE schemaname = '" + strings.ReplaceAll(schema, "'", "''") + "'"
		}
		rows, err := d.q.QueryContext(ctx, list)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			names = append(names, n)
		}
		rows.Close()
		if len(names) == 0 {
			t.Fatalf("no tables in %q", d.prefix)
		}
		for _, n := range names {
			q := d.prefix + `"` + n + `"`
			rs, err := d.q.QueryContext(ctx, "SELECT * FROM "+q)
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			cols, _ := rs.Columns()
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			for rs.Next() {
				if err := rs.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				for _, v := range vals {
					if b, ok := v.([]byte); ok {
						out.Write(b)
					} else {
						fmt.Fprint(&out, v)
					}
					out.WriteByte('\n')
				}
			}
			rs.Close()
		}
	}
	return out.String()
}
