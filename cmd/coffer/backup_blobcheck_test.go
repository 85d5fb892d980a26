package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
)

// TestBackupVerifyDecryptsBlobs: coffer backup verify decrypts the file
// blobs of a snapshot: one byte flipped inside a blob in the second
// location (same size, still present) makes it fail there, naming the
// file's id and not its name, while the primary still verifies.
func TestBackupVerifyDecryptsBlobs(t *testing.T) {
	f := newBackupFixture(t)
	api := f.s.url + "/api/v1/notebooks/" + f.nb.ID
	if st := walkCall(t, "POST", api+"/tables", f.key, map[string]any{"name": "Docs",
		"columns": []map[string]any{{"name": "Title", "type": "text"}, {"name": "Scan", "type": "file"}}}, nil); st != 201 {
		t.Fatalf("create table: %d", st)
	}
	var rec coffer.Record
	if st := walkCall(t, "POST", api+"/tables/Docs/records", f.key, map[string]any{"fields": map[string]any{"Title": "a"}}, &rec); st != 201 {
		t.Fatalf("create record: %d", st)
	}
	file := uploadFile(t, f.key, api+"/tables/Docs/records/"+rec.ID+"/files/Scan", "private-scan.bin", bytes.Repeat([]byte("confidential "), 10000))

	if code, out, errOut := f.cli(t, "backup", "now"); code != 0 {
		t.Fatalf("backup now: %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := f.cli(t, "backup", "verify"); code != 0 || strings.Count(out, "ok ") != 4 {
		t.Fatalf("backup verify of intact backups: %d\n%s%s", code, out, errOut)
	}
	// The blob's object in the second location: one byte flipped.
	dir := filepath.Join(f.second, "blobs", f.nb.ID)
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 {
		t.Fatalf("blobs in the second location: %v %v", ents, err)
	}
	path := filepath.Join(dir, ents[0].Name())
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := f.cli(t, "backup", "verify", "--location", "second")
	if code != 1 || !strings.Contains(out, "FAIL ") || !strings.Contains(out, "in second: file "+file.ID) || strings.Count(out, "ok ") != 1 {
		t.Errorf("verify of a changed blob: %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "private-scan") || strings.Contains(out, "confidential") {
		t.Errorf("verify shows a file's name or content:\n%s", out)
	}
	if code, out, errOut := f.cli(t, "backup", "verify", "--location", "primary"); code != 0 || strings.Count(out, "ok ") != 2 {
		t.Errorf("verify of the primary: %d\n%s%s", code, out, errOut)
	}
}

// uploadFile uploads content as a multipart form to url.
func uploadFile(t *testing.T, key, url, name string, content []byte) coffer.File {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	p, err := w.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	p.Write(content)
	w.Close()
	req, err := http.NewRequest("POST", url, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var f coffer.File
	if res.StatusCode != 201 || json.Unmarshal(data, &f) != nil || f.ID == "" {
		t.Fatal(fmt.Sprintf("upload: %d %s", res.StatusCode, data))
	}
	return f
}
