package storetest

import (
	"context"
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

	testSecretColumnsMore(t, s)
}
