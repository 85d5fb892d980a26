// Command pocketbase is the PocketBase server that coffer bench --peers runs
// beside Coffer: PocketBase's own server and commands (serve, superuser …)
// with its own SQLite settings, except that the environment variable
// COFFER_BENCH_PB_SYNCHRONOUS (FULL or NORMAL; NORMAL, PocketBase's default,
// when unset) chooses how its databases sync, so that both servers can be
// measured at the same durability.
package main

import (
	"fmt"
	"log"
	"os"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase"
)

func main() {
	sync := os.Getenv("COFFER_BENCH_PB_SYNCHRONOUS")
	switch sync {
	case "":
		sync = "NORMAL"
	case "FULL", "NORMAL":
	default:
		log.Fatalf("COFFER_BENCH_PB_SYNCHRONOUS is FULL or NORMAL, not %q", sync)
	}
	app := pocketbase.NewWithConfig(pocketbase.Config{
		DBConnect: func(path string) (*dbx.DB, error) {
			// PocketBase v0.39.11's pragmas (core/db_connect.go), synchronous aside.
			pragmas := "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=journal_size_limit(200000000)" +
				"&_pragma=synchronous(" + sync + ")&_pragma=foreign_keys(ON)&_pragma=temp_store(MEMORY)&_pragma=cache_size(-32000)"
			return dbx.Open("sqlite", path+pragmas)
		},
	})
	if err := app.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
