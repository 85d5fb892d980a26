package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

// The access-control matrix of the file doors: upload, deletion, the
// authenticated link (GET and HEAD, with and without Range), capability
// links (create, list, revoke) and /f/{token}, for every kind of caller.
// A refusal of a file the caller cannot see answers byte for byte like a
// missing file.

// Callers of the file matrix.
const (
	fOwner = iota
	fAdmin
	fEditor
	fViewer
	fShare     // grant: every row, * write, capability share
	fNoShare   // grant: every row, * write, no capability
	fHiddenCol // grant: every row, * write, Files none
	fHiddenRow // grant: rows Title = "other", * write
	fStranger  // a user who is no member
	fOtherOrg  // a user of another organization, no member
	fReadOnly  // the owner's read-only API key
	fAnonymous // no credentials
	fCallers
)

var fNames = [fCallers]string{"owner", "admin", "editor", "viewer", "shareGrantee", "noShareGrantee", "hiddenColumn", "hiddenRow", "stranger", "otherOrg", "readOnlyKey", "anonymous"}

type fRow [fCallers]int

type fWorld struct {
	*filesEnv
	keys    [fCallers]string
	missing string // a well-formed file id of the notebook that does not exist
}

func mustFileMatrix(t *testing.T) *fWorld {
	t.Helper()
	f := mustFilesEnv(t)
	w := &fWorld{filesEnv: f}
	w.keys[fOwner] = f.key
	w.keys[fViewer] = f.vkey
	nbURL := "/api/v1/notebooks/" + f.nb
	ids := map[int]string{}
	for _, i := range []int{fAdmin, fEditor, fShare, fNoShare, fHiddenCol, fHiddenRow, fStranger, fOtherOrg} {
		email := strings.ToLower(fNames[i]) + "-fm@example.com"
		ids[i] = f.MustUser(email, fNames[i]).ID
		w.keys[i] = f.MustLogin(email)
	}
	f.Do("PUT", nbURL+"/members/"+ids[fAdmin], f.key, map[string]any{"role": "admin"}).WantStatus(http.StatusOK)
	f.Do("PUT", nbURL+"/members/"+ids[fEditor], f.key, map[string]any{"role": "editor"}).WantStatus(http.StatusOK)
	user := func(i int) map[string]any { return map[string]any{"type": "user", "id": ids[i]} }
	for _, g := range []map[string]any{
		{"principal": user(fShare), "table": "Docs", "columns": map[string]any{"*": "write"}, "capabilities": []string{"share"}},
		{"principal": user(fNoShare), "table": "Docs", "columns": map[string]any{"*": "write"}, "capabilities": []string{}},
		{"principal": user(fHiddenCol), "table": "Docs", "columns": map[string]any{"*": "write", "Files": "none"}, "capabilities": []string{"share"}},
		{"principal": user(fHiddenRow), "table": "Docs", "rows": `Title = "other"`, "columns": map[string]any{"*": "write"}, "capabilities": []string{"share"}},
	} {
		f.Do("POST", nbURL+"/grants", f.key, g).WantStatus(http.StatusCreated)
	}
	// otherOrg belongs to an organization of its own.
	org, now := coffer.NewID(coffer.PrefixOrg), time.Now().UnixMicro()
	f.MustExec("INSERT INTO {p}organizations (id, name, policy, created_at, updated_at) VALUES (?, ?, '{}', ?, ?)", org, "Other Org", now, now)
	f.MustExec("INSERT INTO {p}org_members (org_id, user_id, role, created_at) VALUES (?, ?, 'member', ?)", org, ids[fOtherOrg], now)
	var ro struct {
		Key string `json:"key"`
	}
	f.Do("POST", "/api/v1/api-keys", f.key, map[string]any{"name": "ro", "read_only": true}).WantStatus(http.StatusCreated).JSON(&ro)
	if ro.Key == "" {
		t.Fatal("no read-only key")
	}
	w.keys[fReadOnly] = ro.Key
	w.missing = coffer.NewFileID(f.nb)
	return w
}

// same checks that a refusal is byte for byte the answer for a missing
// file (status, body and the headers a client could tell apart by).
func fSame(t *testing.T, got, missing *Response) {
	t.Helper()
	if got.Status != missing.Status || string(got.Body) != string(missing.Body) {
		t.Errorf("%s %s answers %d %s; a missing file %d %s", got.Method, got.Path, got.Status, got.Body, missing.Status, missing.Body)
	}
	for _, h := range []string{"Content-Type", "Content-Range", "ETag", "Content-Disposition", "Accept-Ranges"} {
		if got.Header.Get(h) != missing.Header.Get(h) {
			t.Errorf("%s %s: %s %q; a missing file %q", got.Method, got.Path, h, got.Header.Get(h), missing.Header.Get(h))
		}
	}
}

func fStatus(t *testing.T, r *Response, want int) bool {
	t.Helper()
	if r.Status != want {
		t.Errorf("%s %s: status %d, want %d; body %s", r.Method, r.Path, r.Status, want, r.Body)
		return false
	}
	return true
}

// TestAccessMatrixFiles runs every file door as every caller.
func TestAccessMatrixFiles(t *testing.T) {
	w := mustFileMatrix(t)
	const (
		ok   = http.StatusOK
		part = http.StatusPartialContent
		made = http.StatusCreated
		gone = http.StatusNoContent
		bad  = http.StatusBadRequest // the column hidden: not a file column for the caller
		no   = http.StatusForbidden
		nf   = http.StatusNotFound
		anon = http.StatusUnauthorized
	)
	content := []byte("the matrix's file content")
	kept := w.mustUpload(t, "kept.txt", "text/plain", content)
	var link struct {
		ID  string `json:"id"`
		URL string `json:"url"`
	}
	w.Do("POST", "/api/v1/files/"+kept.ID+"/links", w.key, map[string]any{}).WantStatus(made).JSON(&link)
	fileURL := func(id string) string { return "/files/" + id }
	// A download door: the caller's answer, and for a refusal the answer
	// for a missing file, with the same method and headers.
	door := func(method string, hdr ...string) func(t *testing.T, i, want int) {
		return func(t *testing.T, i, want int) {
			r := w.Do(method, fileURL(kept.ID), w.keys[i], nil, hdr...)
			if !fStatus(t, r, want) {
				return
			}
			switch want {
			case ok:
				if method == "GET" && string(r.Body) != string(content) {
					t.Errorf("download: %q", r.Body)
				}
				checkFileHeaders(t, r, kept.SHA256)
			case http.StatusRequestedRangeNotSatisfiable:
				if r.Header.Get("Content-Range") != "bytes */25" {
					t.Errorf("416 Content-Range %q", r.Header.Get("Content-Range"))
				}
			case part:
				if method == "GET" && string(r.Body) != string(content[2:5]) {
					t.Errorf("range: %q", r.Body)
				}
			default:
				fSame(t, r, w.Do(method, fileURL(w.missing), w.keys[i], nil, hdr...))
			}
		}
	}
	type ep struct {
		name string
		want fRow
		do   func(t *testing.T, i, want int)
	}
	// owner admin editor viewer share noShare hiddenCol hiddenRow stranger otherOrg readOnly anonymous
	eps := []ep{
		{"GET_file", fRow{ok, ok, ok, ok, ok, ok, nf, nf, nf, nf, ok, anon}, door("GET")},
		{"HEAD_file", fRow{ok, ok, ok, ok, ok, ok, nf, nf, nf, nf, ok, anon}, door("HEAD")},
		{"GET_file_range", fRow{part, part, part, part, part, part, nf, nf, nf, nf, part, anon}, door("GET", "Range", "bytes=2-4")},
		{"GET_file_bad_range", fRow{http.StatusRequestedRangeNotSatisfiable, 416, 416, 416, 416, 416, nf, nf, nf, nf, 416, anon}, door("GET", "Range", "bytes=900-")},
		{"HEAD_file_range", fRow{part, part, part, part, part, part, nf, nf, nf, nf, part, anon}, door("HEAD", "Range", "bytes=2-4")},
		{"POST_upload", fRow{made, made, made, no, made, made, bad, nf, nf, nf, no, anon}, func(t *testing.T, i, want int) {
			before := w.cell(t)
			r := w.upload(t, w.keys[i], "m.txt", "text/plain", []byte("from the matrix"))
			if !fStatus(t, r, want) {
				return
			}
			if want == made {
				w.Do("DELETE", "/api/v1/files/"+r.Map()["id"].(string), w.key, nil).WantStatus(gone)
				return
			}
			if after := w.cell(t); after != before {
				t.Errorf("a refused upload changed the cell from %s to %s", before, after)
			}
			// A hidden column answers like a column that does not exist, a
			// hidden row like a missing record.
			ct, body := multipartBody(t, "file", "m.txt", "text/plain", []byte("from the matrix"))
			switch want {
			case bad:
				fSame(t, r, w.Do("POST", "/api/v1/notebooks/"+w.nb+"/tables/Docs/records/"+w.rec+"/files/NoSuchColumn", w.keys[i], rawBody(body), "Content-Type", ct))
			case nf:
				fSame(t, r, w.Do("POST", "/api/v1/notebooks/"+w.nb+"/tables/Docs/records/"+coffer.NewID(coffer.PrefixRecord)+"/files/Files", w.keys[i], rawBody(body), "Content-Type", ct))
			}
		}},
		{"DELETE_file", fRow{gone, gone, gone, no, gone, gone, nf, nf, nf, nf, no, anon}, func(t *testing.T, i, want int) {
			fl := w.mustUpload(t, "d.txt", "text/plain", []byte("delete me"))
			r := w.Do("DELETE", "/api/v1/files/"+fl.ID, w.keys[i], nil)
			if !fStatus(t, r, want) {
				w.Do("DELETE", "/api/v1/files/"+fl.ID, w.key, nil)
				return
			}
			if want == gone {
				w.Do("GET", fileURL(fl.ID), w.key, nil).WantStatus(nf)
				return
			}
			w.Do("GET", fileURL(fl.ID), w.key, nil).WantStatus(ok)
			if want == nf {
				fSame(t, r, w.Do("DELETE", "/api/v1/files/"+w.missing, w.keys[i], nil))
			}
			w.Do("DELETE", "/api/v1/files/"+fl.ID, w.key, nil).WantStatus(gone)
		}},
		{"POST_link", fRow{made, made, no, no, made, no, nf, nf, nf, nf, no, anon}, func(t *testing.T, i, want int) {
			r := w.Do("POST", "/api/v1/files/"+kept.ID+"/links", w.keys[i], map[string]any{"max_downloads": 1})
			if !fStatus(t, r, want) {
				return
			}
			if want == made {
				m := r.Map()
				if d := w.Do("GET", m["url"].(string), "", nil); d.Status != ok || string(d.Body) != string(content) {
					t.Errorf("the new link answers %d", d.Status)
				}
				w.Do("DELETE", "/api/v1/files/"+kept.ID+"/links/"+m["id"].(string), w.key, nil).WantStatus(gone)
				return
			}
			if want == nf {
				fSame(t, r, w.Do("POST", "/api/v1/files/"+w.missing+"/links", w.keys[i], map[string]any{"max_downloads": 1}))
			}
		}},
		{"GET_links", fRow{ok, ok, no, no, ok, no, nf, nf, nf, nf, ok, anon}, func(t *testing.T, i, want int) {
			r := w.Do("GET", "/api/v1/files/"+kept.ID+"/links", w.keys[i], nil)
			if !fStatus(t, r, want) {
				return
			}
			if want == ok {
				if strings.Contains(string(r.Body), strings.TrimPrefix(link.URL, "/f/")) || !strings.Contains(string(r.Body), link.ID) {
					t.Errorf("link list: %s", r.Body)
				}
			}
			if want == nf {
				fSame(t, r, w.Do("GET", "/api/v1/files/"+w.missing+"/links", w.keys[i], nil))
			}
		}},
		{"DELETE_link", fRow{gone, gone, no, no, gone, no, nf, nf, nf, nf, no, anon}, func(t *testing.T, i, want int) {
			var l struct{ ID, URL string }
			w.Do("POST", "/api/v1/files/"+kept.ID+"/links", w.key, map[string]any{}).WantStatus(made).JSON(&l)
			r := w.Do("DELETE", "/api/v1/files/"+kept.ID+"/links/"+l.ID, w.keys[i], nil)
			fStatus(t, r, want)
			if d := w.Do("GET", l.URL, "", nil); (want == gone) != (d.Status == nf) {
				t.Errorf("after DELETE link answering %d the link answers %d", r.Status, d.Status)
			}
			if want == nf {
				fSame(t, r, w.Do("DELETE", "/api/v1/files/"+w.missing+"/links/"+l.ID, w.keys[i], nil))
			}
			w.Do("DELETE", "/api/v1/files/"+kept.ID+"/links/"+l.ID, w.key, nil)
		}},
		// A capability link is the right: whoever holds it.
		{"GET_f_token", fRow{ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok}, func(t *testing.T, i, want int) {
			r := w.Do("GET", link.URL, w.keys[i], nil)
			if fStatus(t, r, want) && string(r.Body) != string(content) {
				t.Errorf("link download: %q", r.Body)
			}
		}},
		{"HEAD_f_token", fRow{ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok}, func(t *testing.T, i, want int) {
			fStatus(t, w.Do("HEAD", link.URL, w.keys[i], nil), want)
		}},
	}
	cells := 0
	for _, e := range eps {
		for i := range fCallers {
			cells++
			t.Run(e.name+"/"+fNames[i], func(t *testing.T) { e.do(t, i, e.want[i]) })
		}
	}
	// The fixture is as it was: the kept file alone in its cell.
	if c := w.cell(t); !strings.Contains(c, kept.ID) || strings.Count(c, `"id"`) != 1 {
		t.Errorf("after the matrix the cell is %s", c)
	}
	t.Logf("%d cells", cells)
}

// cell is the record's file cell as the owner sees it, in JSON.
func (w *fWorld) cell(t *testing.T) string {
	t.Helper()
	rec := w.Do("GET", "/api/v1/notebooks/"+w.nb+"/tables/Docs/records/"+w.rec, w.key, nil).WantStatus(http.StatusOK).Map()
	return jsonString(rec["fields"].(map[string]any)["Files"])
}

// TestFileCrossNotebook: a file id or a link token of one notebook, its
// notebook part replaced by that of a notebook the caller owns, answers
// exactly like a missing file or link, and changes nothing.
func TestFileCrossNotebook(t *testing.T) {
	f := mustFilesEnv(t)
	fl := f.mustUpload(t, "theirs.txt", "text/plain", []byte("not yours"))
	var link struct{ URL string }
	f.Do("POST", "/api/v1/files/"+fl.ID+"/links", f.key, map[string]any{}).WantStatus(http.StatusCreated).JSON(&link)

	f.MustUser("mallory-f@example.com", "Mallory")
	mkey := f.MustLogin("mallory-f@example.com")
	mnb := f.Do("POST", "/api/v1/notebooks", mkey, map[string]any{"name": "Mine"}).WantStatus(http.StatusCreated).Map()["id"].(string)
	f.Do("POST", "/api/v1/notebooks/"+mnb+"/tables", mkey, map[string]any{"name": "Docs",
		"columns": []map[string]any{{"name": "Files", "type": "file"}}}).WantStatus(http.StatusCreated)
	mrec := f.Do("POST", "/api/v1/notebooks/"+mnb+"/tables/Docs/records", mkey, map[string]any{"fields": map[string]any{}}).WantStatus(http.StatusCreated).Map()["id"].(string)
	ct, body := multipartBody(t, "file", "mine.txt", "text/plain", []byte("mine"))
	f.Do("POST", "/api/v1/notebooks/"+mnb+"/tables/Docs/records/"+mrec+"/files/Files", mkey, rawBody(body), "Content-Type", ct).WantStatus(http.StatusCreated)

	mpart := strings.TrimPrefix(mnb, coffer.PrefixNotebook)
	forged := coffer.PrefixFile + mpart + fl.ID[len(coffer.PrefixFile)+26:]
	missing := coffer.NewFileID(mnb)
	for _, c := range []struct{ method, path, missing string }{
		{"GET", "/files/" + forged, "/files/" + missing},
		{"HEAD", "/files/" + forged, "/files/" + missing},
		{"DELETE", "/api/v1/files/" + forged, "/api/v1/files/" + missing},
		{"GET", "/api/v1/files/" + forged + "/links", "/api/v1/files/" + missing + "/links"},
		{"POST", "/api/v1/files/" + forged + "/links", "/api/v1/files/" + missing + "/links"},
	} {
		var in any
		if c.method == "POST" {
			in = map[string]any{}
		}
		r := f.Do(c.method, c.path, mkey, in)
		if r.Status != http.StatusNotFound {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.Status, r.Body)
		}
		fSame(t, r, f.Do(c.method, c.missing, mkey, in))
	}
	token := strings.TrimPrefix(link.URL, "/f/")
	forgedToken := mpart + token[26:]
	r := f.Do("GET", "/f/"+forgedToken, mkey, nil)
	fSame(t, r, f.Do("GET", "/f/"+mpart+strings.Repeat("A", len(token)-26), mkey, nil))
	if r.Status != http.StatusNotFound {
		t.Errorf("forged token: %d", r.Status)
	}
	// The owner's file is untouched, its link still works.
	if got := f.Do("GET", "/files/"+fl.ID, f.key, nil).WantStatus(http.StatusOK); string(got.Body) != "not yours" {
		t.Errorf("the owner's file reads %q", got.Body)
	}
	f.Do("GET", link.URL, "", nil).WantStatus(http.StatusOK)
}

// TestFileHiddenLive: uploads and deletions of files in a column hidden
// from a grantee (or in a row they cannot see) send them no live event;
// a change they may see comes without the file cell; an owner's stream
// gets the upload with the file.
func TestFileHiddenLive(t *testing.T) {
	w := mustFileMatrix(t)
	col := openStreamAt(w.Env, w.keys[fHiddenCol], w.nb, "Docs")
	row := openStreamAt(w.Env, w.keys[fHiddenRow], w.nb, "Docs")
	own := openStreamAt(w.Env, w.key, w.nb, "Docs")
	fl := w.mustUpload(t, "hidden-name.txt", "text/plain", []byte("hidden content"))
	w.Do("DELETE", "/api/v1/files/"+fl.ID, w.key, nil).WantStatus(http.StatusNoContent)
	w.Do("PATCH", "/api/v1/notebooks/"+w.nb+"/tables/Docs/records/"+w.rec, w.key, map[string]any{"fields": map[string]any{"Title": "visible change"}}).WantStatus(http.StatusOK)
	other := w.Do("POST", "/api/v1/notebooks/"+w.nb+"/tables/Docs/records", w.key, map[string]any{"fields": map[string]any{"Title": "other"}}).WantStatus(http.StatusCreated).Map()["id"].(string)
	if fr := own.next(); fr.event != "update" || !strings.Contains(fr.data, fl.ID) {
		t.Errorf("the owner's first frame %+v: want the upload with the file", fr)
	}
	// The hidden column: the first frame is the Title change, without files.
	fr := col.next()
	if fr.event != "update" || !strings.Contains(fr.data, "visible change") {
		t.Errorf("hidden column: first frame %+v, want the Title change", fr)
	}
	for _, s := range []string{"hidden-name", fl.ID, fl.SHA256, "Files"} {
		if strings.Contains(fr.data, s) {
			t.Errorf("hidden column: frame shows %q: %s", s, fr.data)
		}
	}
	// The invisible row: the first frame is the record it matches.
	if fr := row.next(); fr.event != "create" || !strings.Contains(fr.data, other) || strings.Contains(fr.data, "hidden-name") {
		t.Errorf("invisible row: first frame %+v, want the create of the other record", fr)
	}
}
