package postgres_test

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob/bloburl"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/notebooks"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/postgres"
)

// TestTwoNodesOwnerLimit: parallel uploads through two nodes into five
// notebooks of one owner never pass the owner's limit together (the
// owner's row locked in the instance database, not only a mutex of one
// process).
func TestTwoNodesOwnerLimit(t *testing.T) {
	requirePostgres(t)
	ctx := context.Background()
	opts := testOptions()
	b1 := openBackendOpts(t, testURL(), opts)
	b2, err := postgres.Open(ctx, testURL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	blobs, err := bloburl.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	keys := keyring.ForTests()
	n1, n2 := all.New(b1, keys), all.New(b2, keys)
	cfg := notebooks.FileConfig{Blobs: blobs, MaxFileSize: 1000, MaxNotebookBytes: 100_000, MaxOwnerBytes: 1000}
	n1.SetFiles(cfg)
	n2.SetFiles(cfg)
	const email, password = "owner-limit@example.com", "a long enough password, surely"
	if _, err := n1.CreateUser(ctx, coffer.UserInput{Email: email, Name: "Owner", Password: password}); err != nil {
		t.Fatal(err)
	}
	sess, err := n1.Login(ctx, email, password)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := n1.Authenticate(ctx, sess.Key)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := n2.Authenticate(ctx, sess.Key)
	if err != nil {
		t.Fatal(err)
	}
	ctx1, ctx2 := coffer.WithCaller(ctx, c1), coffer.WithCaller(ctx, c2)
	type cell struct{ nb, rec string }
	var cells []cell
	for i := range 5 {
		nb, err := n1.CreateNotebook(ctx1, "N"+strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n1.CreateTable(ctx1, nb.ID, coffer.TableInput{Name: "Docs", Columns: []coffer.ColumnInput{{Name: "Files", Type: coffer.TypeFile}}}); err != nil {
			t.Fatal(err)
		}
		rec, err := n1.CreateRecord(ctx1, nb.ID, "Docs", map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		cells = append(cells, cell{nb.ID, rec.ID})
	}
	var wg sync.WaitGroup
	var okN atomic.Int64
	start := make(chan struct{})
	for i := range 10 {
		node, cctx, c := n1, ctx1, cells[i%len(cells)]
		if i%2 == 1 {
			node, cctx = n2, ctx2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := node.UploadFile(cctx, c.nb, "Docs", c.rec, "Files", coffer.FileUpload{Name: "p", Body: bytes.NewReader(make([]byte, 300))})
			switch coffer.ErrorCode(err) {
			case "":
				okN.Add(1)
			case coffer.ETOOLARGE, coffer.EUNAVAILABLE:
			default:
				t.Errorf("parallel upload: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if okN.Load() > 3 || okN.Load() == 0 {
		t.Errorf("%d parallel uploads of 300 bytes through two nodes succeeded under an owner's limit of 1000", okN.Load())
	}
}
