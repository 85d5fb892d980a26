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

// testSecretColumnsMore: the secret columns in history, hidden from
// those who may not read them, verified, and never stored in clear.
func testSecretColumnsMore(t *testing.T, s *all.Store) {
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
