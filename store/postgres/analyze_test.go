package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/storetest"
)

// TestStatisticsRefreshed: once a notebook's written rows double past
// 1,000, the planner's statistics of its tables are refreshed, without
// waiting for autovacuum.
func TestStatisticsRefreshed(t *testing.T) {
	ctx := context.Background()
	b := openBackend(t)
	s := all.New(b, keyring.ForTests())
	uctx, _ := storetest.MustUser(t, s)
	nb := storetest.MustNotebook(t, uctx, s, "Stats")
	tbl := storetest.MustTable(t, uctx, s, nb.ID, "T", coffer.ColumnInput{Name: "N", Type: coffer.TypeNumber})
	for batch := 0; batch < 2; batch++ {
		ops := make([]coffer.BatchOp, 1000)
		for i := range ops {
			ops[i] = coffer.BatchOp{Op: coffer.OpCreate, Fields: map[string]any{"N": json.Number(fmt.Sprint(i))}}
		}
		if _, err := s.Batch(uctx, nb.ID, tbl.ID, ops); err != nil {
			t.Fatal(err)
		}
	}
	schema, err := b.NotebookSchema(nb.ID)
	if err != nil {
		t.Fatal(err)
	}
	table := "t_" + strings.TrimPrefix(tbl.ID, coffer.PrefixTable)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var analyzed bool
		err := b.Pool().QueryRowContext(ctx, "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = $2",
			schema, table).Scan(&analyzed)
		if err == nil && analyzed {
			return
		}
	}
	t.Fatal("the table was not analyzed after 2,000 writes")
}
