package postgres_test

import (
	"context"
	"os"
	"testing"

	"github.com/cofferhq/coffer/keyring"
	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/storetest"
)

// TestCitusSchemaSharding runs only where a Citus coordinator is available:
// COFFER_TEST_CITUS_URL names it, with schema-based sharding turned on for
// Coffer's connections, e.g.
//
//	postgres://postgres@coordinator:5432/test?options=-c%20citus.enable_schema_based_sharding%3Don
//
// Every notebook schema Coffer creates must then be a distributed schema
// (listed in citus_schemas), and the whole behaviour suite must pass on it.
// Not run on the project's machines, which have no Citus.
func TestCitusSchemaSharding(t *testing.T) {
	url := os.Getenv("COFFER_TEST_CITUS_URL")
	if url == "" {
		t.Skip("COFFER_TEST_CITUS_URL is not set: no Citus coordinator to test schema-based sharding on")
	}
	ctx := context.Background()
	b := openBackendOpts(t, url, testOptions())
	s := all.New(b, keyring.ForTests())
	uctx, _ := storetest.MustUser(t, s)
	nb := storetest.MustNotebook(t, uctx, s, "Sharded")
	schema, err := b.NotebookSchema(nb.ID)
	if err != nil {
		t.Fatal(err)
	}
	var distributed int
	if err := b.Pool().QueryRowContext(ctx, "SELECT count(*) FROM citus_schemas WHERE schema_name::text = $1", schema).Scan(&distributed); err != nil {
		t.Fatalf("read citus_schemas (is this a Citus coordinator?): %v", err)
	}
	if distributed != 1 {
		t.Errorf("notebook schema %s is not a distributed schema: enable citus.enable_schema_based_sharding for Coffer's connections", schema)
	}
	storetest.Run(t, func(t *testing.T) *all.Store {
		return all.New(openBackendOpts(t, url, testOptions()), keyring.ForTests())
	})
}
