package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob/bloburl"
	"github.com/cofferhq/coffer/notebooks"
)

// filesEnv is a server with an owner (key), a viewer (vkey), a notebook
// with a table Docs (Title text, Files file) and one record.
type filesEnv struct {
	*Env
	key, vkey, nb, rec string
}

func mustFilesEnv(t testing.TB) *filesEnv {
	t.Helper()
	e := MustEnv(t)
	e.MustUser("owner-f@example.com", "Owner")
	viewer := e.MustUser("viewer-f@example.com", "Viewer")
	f := &filesEnv{Env: e, key: e.MustLogin("owner-f@example.com"), vkey: e.MustLogin("viewer-f@example.com")}
	f.nb = e.Do("POST", "/api/v1/notebooks", f.key, map[string]any{"name": "Files"}).WantStatus(http.StatusCreated).Map()["id"].(string)
	e.Do("POST", "/api/v1/notebooks/"+f.nb+"/tables", f.key, map[string]any{"name": "Docs",
		"columns": []map[string]any{{"name": "Title", "type": "text"}, {"name": "Files", "type": "file"}}}).WantStatus(http.StatusCreated)
	f.rec = e.Do("POST", "/api/v1/notebooks/"+f.nb+"/tables/Docs/records", f.key, map[string]any{"fields": map[string]any{"Title": "a"}}).WantStatus(http.StatusCreated).Map()["id"].(string)
	e.Do("PUT", "/api/v1/notebooks/"+f.nb+"/members/"+viewer.ID, f.key, map[string]any{"role": "viewer"}).WantStatus(http.StatusOK)
	return f
}

// multipartBody builds an upload with the file in field "file".
func multipartBody(t testing.TB, field, name, ctype string, content []byte) (string, []byte) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, field, name))
	if ctype != "" {
		h.Set("Content-Type", ctype)
	}
	p, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	p.Write(content)
	w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

func (f *filesEnv) upload(t *testing.T, key, name, ctype string, content []byte) *Response {
	t.Helper()
	ct, body := multipartBody(t, "file", name, ctype, content)
	return f.Do("POST", "/api/v1/notebooks/"+f.nb+"/tables/Docs/records/"+f.rec+"/files/Files", key, rawBody(body), "Content-Type", ct)
}

func (f *filesEnv) mustUpload(t *testing.T, name, ctype string, content []byte) coffer.File {
	t.Helper()
	var fl coffer.File
	f.upload(t, f.key, name, ctype, content).WantStatus(http.StatusCreated).JSON(&fl)
	return fl
}

// checkFileHeaders asserts the headers of every download.
func checkFileHeaders(t *testing.T, r *Response, sha string) {
	t.Helper()
	for k, v := range map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; sandbox",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
		"ETag":                    `"` + sha + `"`,
		"Accept-Ranges":           "bytes",
	} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s %s: %s = %q, want %q", r.Method, r.Path, k, got, v)
		}
	}
}

func TestFileUploadDownload(t *testing.T) {
	f := mustFilesEnv(t)
	content := bytes.Repeat([]byte("0123456789"), 1000)
	fl := f.mustUpload(t, "Résumé \"final\".pdf", "application/pdf", content)
	sum := sha256.Sum256(content)
	if fl.Size != int64(len(content)) || fl.SHA256 != hex.EncodeToString(sum[:]) || fl.URL != "/files/"+fl.ID || fl.Type != "text/plain; charset=utf-8" {
		t.Errorf("upload answer: %+v", fl)
	}
	// The record lists it.
	rec := f.Do("GET", "/api/v1/notebooks/"+f.nb+"/tables/Docs/records/"+f.rec, f.key, nil).WantStatus(http.StatusOK).Map()
	list, _ := rec["fields"].(map[string]any)["Files"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != fl.ID || list[0].(map[string]any)["url"] != fl.URL {
		t.Errorf("record's cell: %v", rec["fields"])
	}
	r := f.Do("GET", fl.URL, f.vkey, nil).WantStatus(http.StatusOK)
	if !bytes.Equal(r.Body, content) {
		t.Errorf("download: %d bytes", len(r.Body))
	}
	checkFileHeaders(t, r, fl.SHA256)
	if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename="R_sum_ _final_.pdf"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22.pdf` {
		t.Errorf("Content-Disposition %q", cd)
	}
	if r.Header.Get("Content-Length") != fmt.Sprint(len(content)) {
		t.Errorf("Content-Length %q", r.Header.Get("Content-Length"))
	}
	// Ranges: first bytes, suffix, middle, to the end, past the end, several.
	for _, c := range []struct {
		rng        string
		start, end int
	}{{"bytes=0-9", 0, 10}, {"bytes=-5", len(content) - 5, len(content)}, {"bytes=100-199", 100, 200}, {"bytes=9990-", 9990, len(content)}, {"bytes=9990-20000", 9990, len(content)}} {
		r := f.Do("GET", fl.URL, f.key, nil, "Range", c.rng).WantStatus(http.StatusPartialContent)
		if !bytes.Equal(r.Body, content[c.start:c.end]) {
			t.Errorf("Range %s: %q", c.rng, r.Body)
		}
		if want := fmt.Sprintf("bytes %d-%d/%d", c.start, c.end-1, len(content)); r.Header.Get("Content-Range") != want {
			t.Errorf("Range %s: Content-Range %q, want %q", c.rng, r.Header.Get("Content-Range"), want)
		}
		checkFileHeaders(t, r, fl.SHA256)
	}
	for _, rng := range []string{"bytes=10000-", "bytes=20000-20010", "bytes=0-1,5-6", "bytes=-0"} {
		r := f.Do("GET", fl.URL, f.key, nil, "Range", rng)
		r.WantProblem(http.StatusRequestedRangeNotSatisfiable, coffer.ERANGE)
		if r.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", len(content)) {
			t.Errorf("Range %s: Content-Range %q", rng, r.Header.Get("Content-Range"))
		}
	}
	// A malformed Range or another unit is ignored; If-Range with another ETag too.
	f.Do("GET", fl.URL, f.key, nil, "Range", "items=0-1").WantStatus(http.StatusOK)
	f.Do("GET", fl.URL, f.key, nil, "Range", "bytes=0-1", "If-Range", `"other"`).WantStatus(http.StatusOK)
	f.Do("GET", fl.URL, f.key, nil, "Range", "bytes=0-1", "If-Range", `"`+fl.SHA256+`"`).WantStatus(http.StatusPartialContent)
	// HEAD: headers only.
	r = f.Do("HEAD", fl.URL, f.key, nil).WantStatus(http.StatusOK)
	if len(r.Body) != 0 || r.Header.Get("Content-Length") != fmt.Sprint(len(content)) {
		t.Errorf("HEAD: %d bytes, Content-Length %q", len(r.Body), r.Header.Get("Content-Length"))
	}
	// Without a session: 401; a stranger: 404 like a missing file.
	f.Do("GET", fl.URL, "", nil).WantProblem(http.StatusUnauthorized, coffer.EUNAUTHORIZED)
	f.MustUser("stranger-f@example.com", "Stranger")
	skey := f.MustLogin("stranger-f@example.com")
	f.Do("GET", fl.URL, skey, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("GET", "/files/fil_"+strings.Repeat("0", 52), f.key, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("GET", "/files/../../etc/passwd", f.key, nil)
	// A viewer neither uploads nor deletes.
	f.upload(t, f.vkey, "v.txt", "", []byte("v")).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("DELETE", "/api/v1/files/"+fl.ID, f.vkey, nil).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	// The record API does not take file cells.
	f.Do("PATCH", "/api/v1/notebooks/"+f.nb+"/tables/Docs/records/"+f.rec, f.key, map[string]any{"fields": map[string]any{"Files": nil}}).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	// Deleted, then back by undo.
	f.Do("DELETE", "/api/v1/files/"+fl.ID, f.key, nil).WantStatus(http.StatusNoContent)
	f.Do("GET", fl.URL, f.key, nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("POST", "/api/v1/notebooks/"+f.nb+"/undo", f.key, map[string]any{}).WantStatus(http.StatusOK)
	if r := f.Do("GET", fl.URL, f.key, nil).WantStatus(http.StatusOK); !bytes.Equal(r.Body, content) {
		t.Error("download after undo differs")
	}
}

// TestFileEmpty: an empty file downloads empty; a range of it is 416.
func TestFileEmpty(t *testing.T) {
	f := mustFilesEnv(t)
	fl := f.mustUpload(t, "empty", "", nil)
	if r := f.Do("GET", fl.URL, f.key, nil).WantStatus(http.StatusOK); len(r.Body) != 0 || r.Header.Get("Content-Length") != "0" {
		t.Errorf("empty download: %q %v", r.Body, r.Header)
	}
	f.Do("GET", fl.URL, f.key, nil, "Range", "bytes=0-").WantProblem(http.StatusRequestedRangeNotSatisfiable, coffer.ERANGE)
}

// TestFileActiveContent: HTML uploaded as photo.png is never inline and
// is served as application/octet-stream; a real PNG is inline; SVG never.
func TestFileActiveContent(t *testing.T) {
	f := mustFilesEnv(t)
	html := f.mustUpload(t, "photo.png", "image/png", []byte("<html><body><script>alert(document.cookie)</script></body></html>"))
	r := f.Do("GET", html.URL, f.key, nil).WantStatus(http.StatusOK)
	if ct, cd := r.Header.Get("Content-Type"), r.Header.Get("Content-Disposition"); ct != "application/octet-stream" || !strings.HasPrefix(cd, "attachment;") {
		t.Errorf("HTML as photo.png: Content-Type %q, Content-Disposition %q", ct, cd)
	}
	svg := f.mustUpload(t, "x.svg", "image/svg+xml", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`))
	r = f.Do("GET", svg.URL, f.key, nil).WantStatus(http.StatusOK)
	if ct, cd := r.Header.Get("Content-Type"), r.Header.Get("Content-Disposition"); ct != "application/octet-stream" || !strings.HasPrefix(cd, "attachment;") {
		t.Errorf("SVG: Content-Type %q, Content-Disposition %q", ct, cd)
	}
	png := f.mustUpload(t, "p.png", "", append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 32)...))
	r = f.Do("GET", png.URL, f.key, nil).WantStatus(http.StatusOK)
	if ct, cd := r.Header.Get("Content-Type"), r.Header.Get("Content-Disposition"); ct != "image/png" || !strings.HasPrefix(cd, "inline;") {
		t.Errorf("PNG: Content-Type %q, Content-Disposition %q", ct, cd)
	}
	checkFileHeaders(t, r, png.SHA256)
}

// TestFileTampered: a byte flipped in the stored blob answers a problem
// with integrity_failed (not a 5xx) before any byte, and is logged.
func TestFileTampered(t *testing.T) {
	f := mustFilesEnv(t)
	fl := f.mustUpload(t, "t.bin", "", bytes.Repeat([]byte("x"), 5000))
	b, err := bloburl.Open(context.Background(), "", f.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	key := notebooks.BlobKey(f.nb, fl.ID)
	rc, err := b.Open(context.Background(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(rc)
	rc.Close()
	stored[len(stored)/2] ^= 0x20
	if _, err := b.Put(context.Background(), key, bytes.NewReader(stored)); err != nil {
		t.Fatal(err)
	}
	r := f.Do("GET", fl.URL, f.key, nil)
	r.WantProblem(http.StatusUnprocessableEntity, coffer.EINTEGRITY)
	if bytes.Contains(r.Body, []byte("xxxx")) {
		t.Error("the tampered file's content was sent")
	}
	f.Close()
	if !strings.Contains(f.Logs.String(), "file integrity check failed") || !strings.Contains(f.Logs.String(), fl.ID) {
		t.Error("the integrity failure is not logged with the file id")
	}
}

// TestFileLinks: a capability link works without a session until
// revoked; its token never reaches the logs nor the access records.
func TestFileLinks(t *testing.T) {
	f := mustFilesEnv(t)
	f.Do("PATCH", "/api/v1/notebooks/"+f.nb+"/settings", f.key, map[string]any{"access_log": true}).WantStatus(http.StatusOK)
	content := []byte("a linked file")
	fl := f.mustUpload(t, "l.txt", "", content)
	var l coffer.FileLink
	f.Do("POST", "/api/v1/files/"+fl.ID+"/links", f.key, map[string]any{"max_downloads": 5}).WantStatus(http.StatusCreated).JSON(&l)
	if !strings.HasPrefix(l.URL, "/f/") || l.MaxDownloads == nil || *l.MaxDownloads != 5 || l.ExpiresAt != nil {
		t.Fatalf("link: %+v", l)
	}
	token := strings.TrimPrefix(l.URL, "/f/")
	r := f.Do("GET", l.URL, "", nil).WantStatus(http.StatusOK)
	if !bytes.Equal(r.Body, content) {
		t.Errorf("link download: %q", r.Body)
	}
	checkFileHeaders(t, r, fl.SHA256)
	f.Do("GET", l.URL, "", nil, "Range", "bytes=2-7").WantStatus(http.StatusPartialContent)
	f.Do("HEAD", l.URL, "", nil).WantStatus(http.StatusOK)
	// Listed without the token, with its downloads counted (HEAD is not).
	var ls struct{ Links []coffer.FileLink }
	f.Do("GET", "/api/v1/files/"+fl.ID+"/links", f.key, nil).WantStatus(http.StatusOK).JSON(&ls)
	if len(ls.Links) != 1 || ls.Links[0].URL != "" || ls.Links[0].Downloads != 2 {
		t.Errorf("links: %+v", ls)
	}
	// A viewer may not make links.
	f.Do("POST", "/api/v1/files/"+fl.ID+"/links", f.vkey, map[string]any{}).WantProblem(http.StatusForbidden, coffer.EFORBIDDEN)
	f.Do("POST", "/api/v1/files/"+fl.ID+"/links", f.key, map[string]any{"max_downloads": 0}).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	f.Do("POST", "/api/v1/files/"+fl.ID+"/links", f.key, map[string]any{"token": "mine"}).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	f.Do("GET", fl.URL, f.vkey, nil).WantStatus(http.StatusOK)
	// Revoked: 404, like a token that never was.
	f.Do("DELETE", "/api/v1/files/"+fl.ID+"/links/"+l.ID, f.key, nil).WantStatus(http.StatusNoContent)
	f.Do("GET", l.URL, "", nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	f.Do("GET", "/f/"+strings.Repeat("a", 69), "", nil).WantProblem(http.StatusNotFound, coffer.ENOTFOUND)
	// Access records name the file and the link, never the token.
	f.Store.FlushAccessLog()
	r = f.Do("GET", "/api/v1/notebooks/"+f.nb+"/access-log?kind=file.download", f.key, nil).WantStatus(http.StatusOK)
	if !strings.Contains(string(r.Body), fl.ID) || !strings.Contains(string(r.Body), l.ID) || strings.Contains(string(r.Body), token) {
		t.Errorf("access records: %s", r.Body)
	}
	var page struct {
		Entries []struct {
			UserID   string `json:"user_id"`
			RecordID string `json:"record_id"`
			Detail   string `json:"detail"`
		} `json:"entries"`
	}
	r.JSON(&page)
	viewerReads := 0
	for _, e := range page.Entries {
		if e.UserID != "" && e.RecordID == f.rec && strings.Contains(e.Detail, fl.ID) {
			viewerReads++
		}
	}
	if viewerReads != 1 {
		t.Errorf("the viewer's authenticated download is not an access record: %s", r.Body)
	}
	f.Close()
	if strings.Contains(f.Logs.String(), token) {
		t.Error("a capability token reached the logs")
	}
	if !strings.Contains(f.Logs.String(), `"route":"/f/{token}"`) {
		t.Error("link requests are not logged by their route")
	}
}

// TestFileUploadLimits: a file over the limit is 413 and leaves nothing;
// a body that is not multipart is 415; a missing field is 400.
func TestFileUploadLimits(t *testing.T) {
	f := mustFilesEnv(t)
	cfg := f.Store.FileConfig()
	cfg.MaxFileSize = 1000
	f.Store.SetFiles(cfg)
	f.upload(t, f.key, "big", "", make([]byte, 1001)).WantProblem(http.StatusRequestEntityTooLarge, coffer.ETOOLARGE)
	f.upload(t, f.key, "ok", "", make([]byte, 1000)).WantStatus(http.StatusCreated)
	rec := f.Do("GET", "/api/v1/notebooks/"+f.nb+"/tables/Docs/records/"+f.rec, f.key, nil).WantStatus(http.StatusOK).Map()
	if list, _ := rec["fields"].(map[string]any)["Files"].([]any); len(list) != 1 {
		t.Errorf("cell after a refused upload: %v", rec["fields"])
	}
	path := "/api/v1/notebooks/" + f.nb + "/tables/Docs/records/" + f.rec + "/files/Files"
	f.Do("POST", path, f.key, map[string]any{"file": "x"}).WantProblem(http.StatusUnsupportedMediaType, "unsupported_media_type")
	ct, body := multipartBody(t, "other", "x", "", []byte("x"))
	f.Do("POST", path, f.key, rawBody(body), "Content-Type", ct).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	ct, body = multipartBody(t, "file", "x", "", []byte("x"))
	f.Do("POST", "/api/v1/notebooks/"+f.nb+"/tables/Docs/records/"+f.rec+"/files/Title", f.key, rawBody(body), "Content-Type", ct).WantProblem(http.StatusBadRequest, coffer.EINVALID)
	f.Do("POST", path, f.key, rawBody(body[:len(body)/2]), "Content-Type", ct).WantProblem(http.StatusBadRequest, coffer.EINVALID)
}

// FuzzFileUpload sends arbitrary multipart bodies: never a server error,
// and a 201 only with a file that downloads back as sent.
func FuzzFileUpload(f *testing.F) {
	ct, body := multipartBody(f, "file", "a.txt", "text/plain", []byte("hello"))
	boundary := strings.TrimPrefix(ct, "multipart/form-data; boundary=")
	f.Add(boundary, body)
	f.Add(boundary, body[:len(body)-3])
	f.Add("x", []byte("--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../etc/passwd\"\r\n\r\nroot\r\n--x--\r\n"))
	f.Add("x", []byte("--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\r\n--x--\r\n"))
	f.Add("", []byte{})
	shared := mustFilesEnv(f)
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		for i := 0; i < len(boundary); i++ {
			if boundary[i] < 0x20 || boundary[i] >= 0x7f {
				t.Skip("not a header value a client can send")
			}
		}
		env := *shared.Env
		env.TB = t
		fe := &filesEnv{Env: &env, key: shared.key, nb: shared.nb, rec: shared.rec}
		r := fe.Do("POST", "/api/v1/notebooks/"+fe.nb+"/tables/Docs/records/"+fe.rec+"/files/Files", fe.key, rawBody(body),
			"Content-Type", "multipart/form-data; boundary="+boundary)
		if r.Status >= 500 {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		if r.Status == http.StatusCreated {
			var fl coffer.File
			r.JSON(&fl)
			got := fe.Do("GET", fl.URL, fe.key, nil).WantStatus(http.StatusOK)
			sum := sha256.Sum256(got.Body)
			if hex.EncodeToString(sum[:]) != fl.SHA256 || int64(len(got.Body)) != fl.Size {
				t.Fatalf("download differs from the upload's answer %+v", fl)
			}
		}
	})
}

// patternReader yields n bytes of a repeating pattern, without holding
// them.
type patternReader struct{ left, at int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := min(int64(len(b)), p.left)
	for i := range n {
		b[i] = byte((p.at + i) * 7 / 3)
	}
	p.left -= n
	p.at += n
	return int(n), nil
}

// TestFileLargeFlatMemory streams a 96 MiB upload and download over
// HTTP: the heap does not grow with the size (the multipart body is read
// part by part, encrypted and decrypted a chunk at a time).
func TestFileLargeFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("large file in -short mode")
	}
	const size = 96 << 20
	f := mustFilesEnv(t)
	cfg := f.Store.FileConfig()
	cfg.MaxFileSize = 128 << 20
	f.Store.SetFiles(cfg)
	var peak atomic.Uint64
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	runtime.GC()
	base := heap()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if h := heap(); h > peak.Load() {
					peak.Store(h)
				}
			}
		}
	}()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile("file", "big.bin")
		if err == nil {
			_, err = io.Copy(part, &patternReader{left: size})
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequest("POST", f.URL+"/api/v1/notebooks/"+f.nb+"/tables/Docs/records/"+f.rec+"/files/Files", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+f.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var fl coffer.File
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", res.StatusCode, body)
	}
	json.Unmarshal(body, &fl)
	want := sha256.New()
	io.Copy(want, &patternReader{left: size})
	if fl.Size != size || fl.SHA256 != hex.EncodeToString(want.Sum(nil)) {
		t.Fatalf("upload answer: %+v", fl)
	}
	req, _ = http.NewRequest("GET", f.URL+fl.URL, nil)
	req.Header.Set("Authorization", "Bearer "+f.key)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.Copy(got, res.Body)
	res.Body.Close()
	close(stop)
	<-done
	if err != nil || n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	growth := int64(peak.Load()) - int64(base)
	t.Logf("heap in use grew by at most %.1f MiB for a %d MiB upload and download", float64(growth)/(1<<20), size>>20)
	if growth > 24<<20 {
		t.Errorf("heap grew by %d MiB for a %d MiB file", growth>>20, size>>20)
	}
}
