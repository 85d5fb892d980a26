package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/cofferhq/coffer/keyring"
)

const keysUsage = `Usage:
  coffer keys status [--data DIR | --db postgres://…]
      the master key file, its key ids, and each scope's data keys (never key material)
  coffer keys rotate [--data DIR | --db postgres://…]
      add a new master key to the file (old ones are kept: old backups need them),
      re-wrap every data key under it, and give every scope a new current data key;
      old encrypted data still opens. Works while a server runs.
The master key file is COFFER_MASTER_KEY_FILE, or master.key in the data directory.
`

func cmdKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	switch {
	case len(args) > 0 && args[0] == "rotate":
		return cmdKeysRotate(ctx, args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "status":
		return cmdKeysStatus(ctx, args[1:], stdout, stderr)
	case len(args) > 0 && isHelp(args[0]):
		fmt.Fprint(stdout, keysUsage)
		return nil
	}
	fmt.Fprint(stderr, keysUsage)
	return errUsage
}

// cmdKeysRotate makes a new master key current and rotates the data keys.
func cmdKeysRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys rotate", stderr)
	sc := storeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("keys rotate: unexpected argument %q", fs.Arg(0))
	}
	st, closeStore, err := openCLIStore(ctx, sc, "keys rotate", stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	m := st.Ring().Master()
	old := m.IDs()
	id, err := m.Add()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added master key %s to %s; kept %d older key(s) (%s): old backups need them\n", id, m.Path(), len(old), strings.Join(old, ", "))
	rot, err := st.Ring().Rotate(ctx)
	if err != nil {
		return fmt.Errorf("the new master key is in the file, but the data keys were not rotated (run the command again): %w", err)
	}
	fmt.Fprintf(stdout, "re-wrapped %d data key(s) under %s\n", rot.Rewrapped, rot.Master)
	fmt.Fprintf(stdout, "made a new current data key in %d scope(s): new data is sealed with fresh keys; old data still opens\n", rot.Scopes)
	fmt.Fprintf(stdout, "copy the new %s somewhere safe, and to every node that serves this database\n", m.Path())
	return nil
}

// cmdKeysStatus prints the master key ids and each scope's data keys.
func cmdKeysStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys status", stderr)
	sc := storeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("keys status: unexpected argument %q", fs.Arg(0))
	}
	st, closeStore, err := openCLIStore(ctx, sc, "keys status", stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	m := st.Ring().Master()
	mode := ""
	if fi, err := os.Stat(m.Path()); err == nil {
		mode = fmt.Sprintf(" (mode %04o)", fi.Mode().Perm())
	}
	fmt.Fprintf(stdout, "master key file: %s%s\n", m.Path(), mode)
	ids := m.IDs()
	for i, id := range ids {
		cur := ""
		if i == len(ids)-1 {
			cur = " (current)"
		}
		fmt.Fprintf(stdout, "master key: %s%s\n", id, cur)
	}
	scopes, err := st.Ring().Status(ctx)
	if err != nil {
		return err
	}
	if len(scopes) == 0 {
		fmt.Fprintln(stdout, "no data keys yet")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCOPE\tCURRENT\tOLD\tSHREDDED\tWRAPPED BY\tLAST CREATED")
	for _, s := range scopes {
		name := s.Scope
		if name == keyring.Instance {
			name = "instance"
		}
		by := strings.Join(s.Masters, ",")
		if by == "" {
			by = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", name, s.Current, s.Old, s.Shredded, by, s.LastCreated.Format("2006-01-02 15:04:05Z"))
	}
	return tw.Flush()
}
