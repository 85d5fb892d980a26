package postgres_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob/bloburl"
	"github.com/cofferhq/coffer/notebooks"
	"github.com/cofferhq/coffer/store/storetest"
)

// TestTwoNodesOwnerLimit: parallel uploads through two nodes into five
// notebooks of one owner never pass the owner's limit together (the
// owner's row locked in the instance database, not only a mutex of one
// process).
func TestTwoNodesOwnerLimit(t *testing.T) {
	requirePostgres(t)
	ctx := context.Background()
	n1, n2 := nodePair(t, testOptions())
	blobs, err := bloburl.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	cfg := notebooks.FileConfig{Blobs: blobs, MaxFileSize: 1000, MaxNotebookBytes: 100_000, MaxOwnerBytes: 1000}
	n1.SetFiles(cfg)
	n2.SetFiles(cfg)
	ctx1, ctx2, _ := signedInOnBoth(t, n1, n2, "owner-limit@example.com")
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
	okN := storetest.Parallel(t, 10, func(i int) error {
		node, cctx, c := n1, ctx1, cells[i%len(cells)]
		if i%2 == 1 {
			node, cctx = n2, ctx2
		}
		_, err := node.UploadFile(cctx, c.nb, "Docs", c.rec, "Files", coffer.FileUpload{Name: "p", Body: bytes.NewReader(make([]byte, 300))})
		return err
	}, coffer.ETOOLARGE)
	if okN > 3 || okN == 0 {
		t.Errorf("%d parallel uploads of 300 bytes through two nodes succeeded under an owner's limit of 1000", okN)
	}
}
