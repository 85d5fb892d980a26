package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cofferhq/coffer/store/all"
	"github.com/cofferhq/coffer/store/sqlite"
)

// One process owns a SQLite data directory: `coffer serve` holds its lock
// (sqlite.LockDir) while it runs, and listens on a unix socket in it
// (sqlite.SocketFile, 0600) for the command line. A command that changes
// the data directory takes the lock itself when no server runs; when a
// server runs, it checks that the server answers on the socket, makes its
// change (SQLite serializes the two processes' writes), then asks the
// server to drop its caches, so the change holds at the server's next
// request. A holder that does not answer (or another command) makes the
// command refuse, naming it.

// controlTimeout bounds one exchange on the control socket.
const controlTimeout = 5 * time.Second

// serveControl listens on the data directory's socket: "ping" answers
// "ok", "drop-caches" drops the store's caches and answers "ok". The
// socket is made under a temporary name, set to 0600, then renamed, so it
// is never reachable with a looser mode. stop closes it and removes it.
func serveControl(dir string, st *all.Store, log *slog.Logger) (stop func(), err error) {
	path := filepath.Join(dir, sqlite.SocketFile)
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.%d", sqlite.SocketFile, os.Getpid()))
	_ = os.Remove(tmp)
	_ = os.Remove(path) // a server that died left it; the lock says none runs
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(controlTimeout))
				line, err := bufio.NewReader(io.LimitReader(c, 64)).ReadString('\n')
				if err != nil {
					return
				}
				switch strings.TrimSpace(line) {
				case "ping":
					io.WriteString(c, "ok\n")
				case "drop-caches":
					st.DropCaches()
					log.Info("caches dropped at the request of a command line change")
					io.WriteString(c, "ok\n")
				default:
					io.WriteString(c, "unknown request\n")
				}
			}()
		}
	}()
	return func() {
		ln.Close()
		os.Remove(path)
	}, nil
}

// controlCall sends one request to the server of a data directory.
func controlCall(dir, req string) error {
	c, err := net.DialTimeout("unix", filepath.Join(dir, sqlite.SocketFile), controlTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(controlTimeout))
	if _, err := io.WriteString(c, req+"\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(io.LimitReader(c, 64)).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "ok" {
		return fmt.Errorf("the server answered %q", strings.TrimSpace(line))
	}
	return nil
}

// dirGuard is how a command holds a data directory: its own lock, or the
// running server it tells about its change.
type dirGuard struct {
	dir    string
	lock   *sqlite.Lock
	server *sqlite.LockedError // the running server, when lock is nil
}

// guardDataDir takes dir for a command (role names it in the lock file).
func guardDataDir(dir, role string) (*dirGuard, error) {
	l, err := sqlite.LockDir(dir, role)
	if err == nil {
		return &dirGuard{dir: dir, lock: l}, nil
	}
	var le *sqlite.LockedError
	if !errors.As(err, &le) {
		return nil, err
	}
	if le.Role != "serve" {
		return nil, fmt.Errorf("%w; run this command again when it has finished", le)
	}
	if err := controlCall(dir, "ping"); err != nil {
		return nil, fmt.Errorf("%w, and it does not answer on %s (%v): stop it, then run this command again",
			le, filepath.Join(dir, sqlite.SocketFile), err)
	}
	return &dirGuard{dir: dir, server: le}, nil
}

// done releases the directory, or tells the running server to drop its
// caches (after the command's changes committed).
func (g *dirGuard) done(stderr io.Writer) {
	if g.lock != nil {
		g.lock.Close()
		return
	}
	if err := controlCall(g.dir, "drop-caches"); err != nil {
		fmt.Fprintf(stderr, "WARNING: the change is saved, but the server (pid %d) did not confirm that it dropped its caches (%v): "+
			"it may take up to a second to hold there\n", g.server.PID, err)
	}
}

// openCLIStore opens the storage for a command of the command line: on
// SQLite, through guardDataDir. The returned close releases the data
// directory or tells the server, after closing the store.
func openCLIStore(ctx context.Context, sc *storeConfig, role string, stderr io.Writer) (*all.Store, func() error, error) {
	warn := func(w string) { fmt.Fprintln(stderr, "WARNING:", w) }
	sc.stderr = stderr
	if sc.dbURL != "" {
		return openStore(ctx, sc, warn)
	}
	g, err := guardDataDir(sc.dataDir, role)
	if err != nil {
		return nil, nil, err
	}
	st, closeStore, err := openStore(ctx, sc, warn)
	if err != nil {
		g.done(io.Discard)
		return nil, nil, err
	}
	return st, func() error {
		err := closeStore()
		g.done(stderr)
		return err
	}, nil
}
