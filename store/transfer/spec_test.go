package transfer

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
	"github.com/cofferhq/coffer/store/sqlite"
)

// TestSpecCoversMigrations fails when a migration adds a table that the
// copy does not know: add it to instanceTables or catalogueTables.
func TestSpecCoversMigrations(t *testing.T) {
	ctx := context.Background()
	b, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	id := coffer.NewID(coffer.PrefixNotebook)
	if err := b.CreateNotebook(ctx, id); err != nil {
		t.Fatal(err)
	}
	nb, release, err := b.Notebook(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for _, c := range []struct {
		db   *store.DB
		spec []table
	}{{b.Instance(), instanceTables}, {nb, catalogueTables}} {
		rows, err := c.db.R.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations' ORDER BY name")
		if err != nil {
			t.Fatal(err)
		}
		var got, want []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			got = append(got, n)
		}
		rows.Close()
		for _, tb := range c.spec {
			want = append(want, tb.name)
		}
		sort.Strings(want)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("the migrations make tables %v; store/transfer copies %v", got, want)
		}
	}
}
