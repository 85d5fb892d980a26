// Command coffer runs and administers a Coffer server.
//
//	coffer serve        start the server
//	coffer user create  create an account
//	coffer user reset-password  set a new password (no e-mail needed)
//	coffer user deactivate|reactivate  end or restore an account's access
//	coffer user sessions  list, or end, an account's sessions and API keys
//	coffer org          manage organizations, members, groups and policy
//	coffer audit        the audit log: verifier key, verify, prove, checkpoint, prune
//	coffer keys         master key and data keys: status, rotate
//	coffer bench        measure throughput against in-process limits
//	coffer migrate      copy an instance between SQLite and PostgreSQL, verified
//	coffer backup       snapshots now, list, status, verify, drill
//	coffer restore      a notebook, table or records from a snapshot; an instance from a location
//	coffer version      print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/cofferhq/coffer"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `Coffer: a security-first collaborative database.

Usage:
  coffer serve [--addr 127.0.0.1:8080] [--data ./coffer-data | --db postgres://…] [--smtp-url smtp://…]
  coffer user create --email E --name N --password-stdin [--operator] [--data DIR | --db postgres://…]
  coffer user reset-password --email E --password-stdin [--data DIR | --db postgres://…]
  coffer user deactivate|reactivate --email E
  coffer user sessions --email E [--end]
  coffer org create|list|members|member|group|policy|delete …  (coffer org help)
  coffer history prune [--data DIR | --db postgres://…]
  coffer audit key|verify|prove N|checkpoint|prune --before T  (coffer audit help)
  coffer keys status|rotate [--data DIR | --db postgres://…]  (coffer keys help)
  coffer bench [--records 100000] [--duration 5s] [--concurrency 32] [--db postgres://…] [--peers [--json FILE]]
  coffer migrate --from <data dir | postgres://…> --to <empty data dir | postgres://…>
  coffer backup now|list|status|verify|drill …  (coffer backup help)
  coffer restore --notebook N --snapshot S [--table T] [--record R] [--as-copy]
  coffer restore --instance --from <location URL>  (coffer restore --help)
  coffer version
`

// run is the whole command line, separated from main for tests.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], stdout, stderr)
	case "user":
		switch {
		case len(args) >= 2 && args[1] == "create":
			err = cmdUserCreate(ctx, args[2:], stdin, stdout, stderr)
		case len(args) >= 2 && args[1] == "reset-password":
			err = cmdUserResetPassword(ctx, args[2:], stdin, stdout, stderr)
		case len(args) >= 2 && args[1] == "sessions":
			err = cmdUserSessions(ctx, args[2:], stdout, stderr)
		case len(args) >= 2 && (args[1] == "deactivate" || args[1] == "reactivate"):
			err = cmdUserActive(ctx, args[1], args[2:], stdout, stderr)
		case len(args) >= 2 && isHelp(args[1]):
			fmt.Fprint(stdout, usage)
		default:
			fmt.Fprint(stderr, usage)
			return 2
		}
	case "org":
		err = cmdOrg(ctx, args[1:], stdout, stderr)
		if errors.Is(err, errUsage) {
			return 2
		}
	case "history":
		err = cmdHistory(ctx, args[1:], stdout, stderr)
		if errors.Is(err, errUsage) {
			return 2
		}
	case "audit":
		err = cmdAudit(ctx, args[1:], stdout, stderr)
		if errors.Is(err, errUsage) {
			return 2
		}
	case "keys":
		err = cmdKeys(ctx, args[1:], stdout, stderr)
		if errors.Is(err, errUsage) {
			return 2
		}
	case "bench":
		err = cmdBench(ctx, args[1:], stdout, stderr)
	case "bench-load": // hidden: the load generator process of bench --peers
		err = cmdBenchLoad(ctx, stdin, stdout)
	case "bench-minimal": // hidden: the minimal handler process of bench --peers
		err = cmdBenchMinimal(stdin, stdout)
	case "migrate":
		err = cmdMigrate(ctx, args[1:], stdout, stderr)
	case "backup":
		err = cmdBackup(ctx, args[1:], stdout, stderr)
		if errors.Is(err, errUsage) {
			return 2
		}
	case "restore":
		err = cmdRestore(ctx, args[1:], stdout, stderr)
		if errors.Is(err, errUsage) {
			return 2
		}
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "coffer", coffer.Version)
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "coffer: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "coffer:", describe(err))
		return 1
	}
	return 0
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "help" || arg == "--help" || arg == "-help" || arg == "-h"
}

// newFlagSet returns the flag set of a command, whose help (--help) lists
// each flag as "--name VALUE" with its meaning. VALUE is the word quoted
// with backquotes in the usage text, or else the flag's name in capitals.
func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: coffer %s [flags]\n\nFlags:\n", name)
		fs.VisitAll(func(f *flag.Flag) {
			value, help := flag.UnquoteUsage(f)
			if !strings.Contains(f.Usage, "`") {
				value = strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
			}
			line := "  --" + f.Name
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
				line += " " + value
			}
			fmt.Fprintf(fs.Output(), "%s\n    \t%s", line, strings.ReplaceAll(help, "\n", "\n    \t"))
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				fmt.Fprintf(fs.Output(), " (default %s)", f.DefValue)
			}
			fmt.Fprintln(fs.Output())
		})
	}
	return fs
}

// describe renders an error for the terminal: the message and per-field problems.
func describe(err error) string {
	var ce *coffer.Error
	if !errors.As(err, &ce) {
		return err.Error()
	}
	if ce.Code == coffer.EINTERNAL {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString(ce.Message)
	for _, f := range ce.Fields {
		fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Message)
	}
	return b.String()
}

// envInt returns the environment variable as an integer, or the default
// when it is unset or not an integer (the flag's check then applies).
func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
		return -1
	}
	return def
}

// env returns the environment variable or the default.
func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
