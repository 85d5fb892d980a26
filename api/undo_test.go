package api_test

import (
	"net/http"
	"testing"

	"github.com/cofferhq/coffer"
)

// TestUndoRedoHTTP: undo and redo over HTTP, with and without a body,
// answer the action done; an empty stack is 409 nothing_to_undo (and
// nothing_to_redo); a conflict is 409 conflict listing the cells, and
// force overwrites them.
func TestUndoRedoHTTP(t *testing.T) {
	f := MustFixture(t)
	nb := "/api/v1/notebooks/" + f.NB
	rec := nb + "/tables/People/records/" + f.Recs[0]
	f.Do("PATCH", rec, f.Alice, map[string]any{"fields": map[string]any{"name": "Ada L."}}).WantStatus(http.StatusOK)

	var d coffer.ActionDone
	f.Do("POST", nb+"/undo", f.Alice, nil).WantStatus(http.StatusOK).JSON(&d)
	if d.Kind != "undo" || d.Of == 0 || len(d.Records) != 1 || d.Records[0] != (coffer.RecordRef{Table: f.People, Record: f.Recs[0]}) {
		t.Errorf("undo answered %+v", d)
	}
	var r coffer.Record
	f.Do("GET", rec, f.Alice, nil).WantStatus(http.StatusOK).JSON(&r)
	if r.Fields["name"] != "Ada" {
		t.Errorf("after undo, name = %v", r.Fields["name"])
	}
	f.Do("POST", nb+"/redo", f.Alice, map[string]any{"force": false}).WantStatus(http.StatusOK).JSON(&d)
	if d.Kind != "redo" {
		t.Errorf("redo answered %+v", d)
	}
	f.Do("POST", nb+"/redo", f.Alice, nil).WantProblem(http.StatusConflict, coffer.ENOTHINGTOREDO)
	f.Do("POST", nb+"/undo", f.Bob, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("POST", nb+"/undo", f.Alice, map[string]any{"force": "yes"}).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	f.Do("POST", nb+"/undo", f.Alice, map[string]any{"other": true}).WantProblem(http.StatusBadRequest, coffer.EINVALID)

	// Bob, an editor, changes the cell Alice's latest action wrote.
	f.Do("PUT", nb+"/members/"+mustUserID(t, f, f.Bob), f.Alice, map[string]any{"role": "editor"}).WantStatus(http.StatusOK)
	f.Do("PATCH", rec, f.Bob, map[string]any{"fields": map[string]any{"name": "Bob's"}}).WantStatus(http.StatusOK)
	p := f.Do("POST", nb+"/undo", f.Alice, nil).WantProblem(http.StatusConflict, coffer.ECONFLICT)
	var body struct {
		Cells []coffer.CellRef `json:"cells"`
	}
	f.Do("POST", nb+"/undo", f.Alice, nil).JSON(&body)
	if len(body.Cells) != 1 || body.Cells[0] != (coffer.CellRef{Table: "People", Record: f.Recs[0], Column: "name"}) {
		t.Errorf("conflict cells = %+v (%s)", body.Cells, p.Detail)
	}
	f.Do("POST", nb+"/undo", f.Alice, map[string]any{"force": true}).WantStatus(http.StatusOK)
	f.Do("GET", rec, f.Alice, nil).WantStatus(http.StatusOK).JSON(&r)
	if r.Fields["name"] != "Ada" {
		t.Errorf("after a forced undo, name = %v", r.Fields["name"])
	}
	// Bob's own stack is his.
	f.Do("POST", nb+"/undo", f.Bob, nil).WantProblem(http.StatusConflict, coffer.ECONFLICT)
}

// mustUserID returns the id of the account that key signs in.
func mustUserID(t *testing.T, f *Fixture, key string) string {
	t.Helper()
	var me struct {
		ID string `json:"id"`
	}
	f.Do("GET", "/api/v1/auth/me", key, nil).WantStatus(http.StatusOK).JSON(&me)
	return me.ID
}

// TestTrashHTTP: deleted records, columns and tables are listed and
// restored over HTTP; a viewer may not see the trash.
func TestTrashHTTP(t *testing.T) {
	f := MustFixture(t)
	nb := "/api/v1/notebooks/" + f.NB
	f.Do("DELETE", nb+"/tables/People/records/"+f.Recs[1], f.Alice, nil).WantStatus(http.StatusNoContent)
	var list struct {
		Records []coffer.TrashRecord `json:"records"`
	}
	f.Do("GET", nb+"/tables/People/trash?limit=10", f.Alice, nil).WantStatus(http.StatusOK).JSON(&list)
	if len(list.Records) != 1 || list.Records[0].ID != f.Recs[1] || list.Records[0].Fields["name"] != "Grace" {
		t.Fatalf("trash = %+v", list.Records)
	}
	f.Do("GET", nb+"/tables/People/trash?limit=0", f.Alice, nil).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	f.Do("GET", nb+"/tables/People/trash?cursor=x", f.Alice, nil).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	f.Do("PUT", nb+"/members/"+mustUserID(t, f, f.Bob), f.Alice, map[string]any{"role": "viewer"}).WantStatus(http.StatusOK)
	f.Do("GET", nb+"/tables/People/trash", f.Bob, nil).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("POST", nb+"/tables/People/trash/"+f.Recs[1]+"/restore", f.Bob, nil).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	var d coffer.ActionDone
	f.Do("POST", nb+"/tables/People/trash/"+f.Recs[1]+"/restore", f.Alice, nil).WantStatus(http.StatusOK).JSON(&d)
	if d.Kind != "restore" {
		t.Errorf("restore answered %+v", d)
	}
	f.Do("GET", nb+"/tables/People/records/"+f.Recs[1], f.Alice, nil).WantStatus(http.StatusOK)
	f.Do("POST", nb+"/tables/People/trash/"+f.Recs[1]+"/restore", f.Alice, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)

	var tbl coffer.Table
	f.Do("GET", nb+"/tables/People", f.Alice, nil).WantStatus(http.StatusOK).JSON(&tbl)
	note := tbl.Columns[3].ID
	f.Do("DELETE", nb+"/tables/People/columns/note", f.Alice, nil).WantStatus(http.StatusNoContent)
	f.Do("DELETE", nb+"/tables/Teams", f.Alice, nil).WantStatus(http.StatusNoContent)
	var tr coffer.SchemaTrash
	f.Do("GET", nb+"/trash", f.Alice, nil).WantStatus(http.StatusOK).JSON(&tr)
	if len(tr.Columns) != 1 || tr.Columns[0].ID != note || len(tr.Tables) != 1 || tr.Tables[0].Name != "Teams" {
		t.Fatalf("schema trash = %+v", tr)
	}
	f.Do("GET", nb+"/trash", f.Bob, nil).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("POST", nb+"/trash/columns/"+note+"/restore", f.Alice, nil).WantStatus(http.StatusOK)
	f.Do("POST", nb+"/trash/tables/"+tr.Tables[0].ID+"/restore", f.Alice, nil).WantStatus(http.StatusOK)
	var r coffer.Record
	f.Do("GET", nb+"/tables/People/records/"+f.Recs[0], f.Alice, nil).WantStatus(http.StatusOK).JSON(&r)
	if r.Fields["note"] != "hello" {
		t.Errorf("restored column: note = %v", r.Fields["note"])
	}
	f.Do("GET", nb+"/tables/Teams", f.Alice, nil).WantStatus(http.StatusOK)
}

// TestUndoPerClient: each sign-in session and each API key has its own
// undo stack; a read-only key may not undo.
func TestUndoPerClient(t *testing.T) {
	f := MustFixture(t)
	nb := "/api/v1/notebooks/" + f.NB
	var key, ro coffer.APIKey
	f.Do("POST", "/api/v1/api-keys", f.Alice, map[string]any{"name": "script"}).WantStatus(http.StatusCreated).JSON(&key)
	f.Do("POST", "/api/v1/api-keys", f.Alice, map[string]any{"name": "reader", "read_only": true}).WantStatus(http.StatusCreated).JSON(&ro)
	f.Do("POST", nb+"/undo", key.Key, nil).WantProblem(http.StatusConflict, coffer.ENOTHINGTOUNDO)
	rec := nb + "/tables/People/records/" + f.Recs[2]
	f.Do("PATCH", rec, key.Key, map[string]any{"fields": map[string]any{"note": "by the script"}}).WantStatus(http.StatusOK)
	f.Do("PATCH", rec, f.Alice, map[string]any{"fields": map[string]any{"name": "Linus T."}}).WantStatus(http.StatusOK)
	f.Do("POST", nb+"/undo", ro.Key, nil).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("POST", nb+"/undo", key.Key, nil).WantStatus(http.StatusOK)
	var r coffer.Record
	f.Do("GET", rec, f.Alice, nil).WantStatus(http.StatusOK).JSON(&r)
	if r.Fields["note"] != nil || r.Fields["name"] != "Linus T." {
		t.Errorf("after the key's undo: %v", r.Fields)
	}
}
