package main

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/blob/blobtest"
	"github.com/cofferhq/coffer/store/storetest"
)

// TestRestoreInstanceIntoPostgresFromS3: an SQLite instance backed up to
// a second location on a real S3-compatible server is restored from
// there into PostgreSQL: the same records, read through the services.
func TestRestoreInstanceIntoPostgresFromS3(t *testing.T) {
	pg := testPostgres(t)
	srv := blobtest.MustVersityGW(t)
	copyURL := srv.URL("backups", "coffer")
	f := newBackupFixtureTo(t, copyURL)
	if code, out, errOut := f.cli(t, "backup", "now"); code != 0 || !strings.Contains(out, "good: 2 new") {
		t.Fatalf("backup now: %d %s %s", code, out, errOut)
	}
	var before struct{ Records []coffer.Record }
	if st := walkCall(t, "GET", f.recs+"?sort=name", f.key, nil, &before); st != 200 || len(before.Records) != 3 {
		t.Fatalf("list: %d", st)
	}
	f.s.stop()
	fresh := t.TempDir()
	for _, name := range []string{"master.key", "audit.key", "audit-checkpoints"} {
		b, err := os.ReadFile(filepath.Join(f.data, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(fresh, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	schema := "rs_" + strings.ToLower(rand.Text()[:10])
	t.Cleanup(func() {
		pg.Exec(`DO $$ DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace WHERE nspname = '` + schema + `' OR starts_with(nspname, '` + schema + `_') LOOP EXECUTE 'DROP SCHEMA "' || s || '" CASCADE'; END LOOP; END $$`)
	})
	t.Setenv("COFFER_BACKUP_COPY_URL", "")
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"restore", "--instance", "--from", copyURL, "--data", fresh, "--db", testPostgresURL(), "--db-schema", schema},
		strings.NewReader(""), &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), "and 1 notebook(s)") {
		t.Fatalf("restore into PostgreSQL: %d\n%s%s", code, stdout.String(), stderr.String())
	}
	sc := &storeConfig{dataDir: fresh, dbURL: testPostgresURL(), dbSchema: schema}
	st, closeStore, err := openStore(context.Background(), sc, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	closeOnce := func() { once.Do(func() { closeStore() }) }
	defer closeOnce()
	owner := coffer.WithCaller(context.Background(), &coffer.Caller{UserID: before.Records[0].CreatedBy, SessionID: "test"})
	after := storetest.MustListAll(t, owner, st, f.nb.ID, "Contacts", coffer.ListQuery{Sort: "name"})
	if len(after) != len(before.Records) {
		t.Fatalf("%d records restored, want %d", len(after), len(before.Records))
	}
	for i, a := range after {
		b := before.Records[i]
		if a.ID != b.ID || a.Fields["name"] != b.Fields["name"] || a.Version != b.Version {
			t.Errorf("record %d: %+v, want %+v", i, a, b)
		}
	}
	closeOnce()
	// The restored PostgreSQL instance backs up, verifies and drills from
	// the command line like any other.
	pgArgs := []string{"--data", fresh, "--db", testPostgresURL(), "--db-schema", schema}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"backup", "now"}, "good: 2 new snapshot(s)"},
		{[]string{"backup", "verify"}, "ok "},
		{[]string{"backup", "drill"}, ": good;"},
		{[]string{"backup", "status"}, "last drill: good"},
	} {
		stdout.Reset()
		stderr.Reset()
		if code := run(context.Background(), append(c.args, pgArgs...), strings.NewReader(""), &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), c.want) {
			t.Errorf("%v on PostgreSQL: %d\n%s%s", c.args, code, stdout.String(), stderr.String())
		}
	}
	// Point-in-time restore is the database's own there: the command says where to look.
	stdout.Reset()
	stderr.Reset()
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	if code := run(context.Background(), append([]string{"restore", "--notebook", f.nb.ID, "--at", at, "--as-copy"}, pgArgs...), strings.NewReader(""), &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "docs/postgres-pitr.md") {
		t.Errorf("restore --at on PostgreSQL: %d\n%s%s", code, stdout.String(), stderr.String())
	}
}
