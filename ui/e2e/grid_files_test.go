package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
)

// upload sends a file into a file cell through the API.
func (c *Client) upload(path, name string, content []byte) map[string]any {
	c.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	part, _ := w.CreateFormFile("file", name)
	part.Write(content)
	w.Close()
	req, _ := http.NewRequest("POST", c.base+path, &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+c.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated {
		c.t.Fatalf("upload %s: %d %s", name, res.StatusCode, b)
	}
	var f map[string]any
	json.Unmarshal(b, &f)
	return f
}

// TestGridFileCells: a file cell lists its files by name, as links that
// open /files/{id} (the authenticated link); a name that looks like HTML
// stays text; the cell does not open an editor.
func TestGridFileCells(t *testing.T) {
	chromium(t)
	s := startServer(t)
	u := newGridUser(t, s, "fay@example.com", "Fay")
	docs := makeTable(t, u.C, "Office", "Docs", []map[string]any{{"name": "Title", "type": "text"}, {"name": "Files", "type": "file"}})
	var rec apiRecord
	u.C.Do("POST", docs.records(), map[string]any{"fields": map[string]any{"Title": "contract"}}, &rec)
	path := docs.records() + "/" + rec.ID + "/files/Files"
	a := u.C.upload(path, "contract.pdf", []byte("%PDF-1.4 not really"))
	evil := `<img src=x onerror="document.title='pwned'">.txt`
	b2 := u.C.upload(path, evil, []byte("hello"))

	b := newBrowser(t)
	browserSignIn(b, s, u)
	openGrid(b, docs.page(s))
	var links []map[string]string
	b.Run("file links", chromedp.Evaluate(`[...document.querySelectorAll('[role="grid"] a.file')].map(a => ({href: a.getAttribute("href"), text: a.textContent}))`, &links))
	want := []map[string]string{{"href": "/files/" + a["id"].(string), "text": "contract.pdf"}, {"href": "/files/" + b2["id"].(string), "text": evil}}
	if len(links) != 2 || links[0]["href"] != want[0]["href"] || links[0]["text"] != want[0]["text"] || links[1]["href"] != want[1]["href"] || links[1]["text"] != want[1]["text"] {
		t.Errorf("file links %v, want %v", links, want)
	}
	var title string
	var imgs int
	b.Run("no markup from names", chromedp.Evaluate(`document.title`, &title), chromedp.Evaluate(`document.querySelectorAll('[role="grid"] img').length`, &imgs))
	if title == "pwned" || imgs != 0 {
		t.Errorf("a file name was rendered as HTML (title %q, %d img)", title, imgs)
	}
	// The browser's session reaches the authenticated link.
	var status int
	b.Run("fetch the file", evalAwait(`fetch(`+"`"+`/files/`+a["id"].(string)+"`"+`).then(r => r.status)`, &status))
	if status != http.StatusOK {
		t.Errorf("GET /files/{id} from the signed-in page: %d", status)
	}
	var readonly string
	b.Run("read-only cell", chromedp.Evaluate(`document.querySelector('[role="grid"] a.file').closest('[role="gridcell"]').getAttribute("aria-readonly")`, &readonly))
	if readonly != "true" {
		t.Errorf("file cell aria-readonly = %q", readonly)
	}
	b.Shot("file-cells")
}
