package ship

import (
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/cofferhq/coffer/store/sqlite" // the sqlite driver
)

// walCopy commits n transactions to a WAL database that never
// checkpoints and returns a copy of its WAL.
func walCopy(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "x.db")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE t (v BLOB)"); err != nil {
		t.Fatal(err)
	}
	for range n - 1 {
		if _, err := db.Exec("INSERT INTO t VALUES (randomblob(6000))"); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "copy-wal")
	if err := os.WriteFile(out, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// commits reads the WAL at path from pos and counts frames and commits.
func commits(t *testing.T, path string, pos walPos) (frames, commits int, end walPos) {
	t.Helper()
	end, err := readWAL(path, pos, func(pgno, commit uint32, page []byte) error {
		frames++
		if commit != 0 {
			commits++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return frames, commits, end
}

// TestReadWAL: every commit of a WAL is read, in one go or in two; a
// changed byte or a cut in the last transaction's frames hides that
// transaction only; a missing or empty WAL holds nothing.
func TestReadWAL(t *testing.T) {
	path := walCopy(t, 5)
	frames, n, end := commits(t, path, walPos{})
	if n != 5 || end.frames != frames || end.pageSize == 0 {
		t.Fatalf("read %d commits in %d frames (position %+v), want 5", n, frames, end)
	}
	if f, c, _ := commits(t, path, end); f != 0 || c != 0 {
		t.Errorf("reading again from the end: %d frames, %d commits", f, c)
	}

	// The same WAL cut after its third commit, then whole: the second
	// read takes up where the first stopped.
	whole, _ := os.ReadFile(path)
	_, _, all := commits(t, path, walPos{})
	frameSize := int64(frameHeaderSize + all.pageSize)
	var third walPos
	for k := 1; ; k++ { // find the third commit frame
		cut := filepath.Join(t.TempDir(), "cut")
		os.WriteFile(cut, whole[:walHeaderSize+int64(k)*frameSize], 0o600)
		if _, c, p := commits(t, cut, walPos{}); c == 3 {
			third = p
			break
		}
	}
	f2, c2, end2 := commits(t, path, third)
	if c2 != 2 || third.frames+f2 != frames || end2 != end {
		t.Errorf("reading on from the third commit: %d commits, %d frames, end %+v; want 2, %d, %+v", c2, f2, end2, frames-third.frames, end)
	}

	// A changed byte in the last frame, and a cut inside it.
	bad := append([]byte(nil), whole...)
	bad[len(bad)-10] ^= 1
	badPath := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(badPath, bad, 0o600)
	if _, c, _ := commits(t, badPath, walPos{}); c != 4 {
		t.Errorf("with a changed byte in the last frame: %d commits, want 4", c)
	}
	os.WriteFile(badPath, whole[:len(whole)-100], 0o600)
	if _, c, _ := commits(t, badPath, walPos{}); c != 4 {
		t.Errorf("cut inside the last frame: %d commits, want 4", c)
	}
	// A byte changed in the header: no valid WAL.
	bad = append([]byte(nil), whole...)
	bad[17] ^= 1
	os.WriteFile(badPath, bad, 0o600)
	if f, _, p := commits(t, badPath, walPos{}); f != 0 || p.known {
		t.Errorf("with a changed header: %d frames, position %+v", f, p)
	}
	if f, _, _ := commits(t, filepath.Join(t.TempDir(), "none"), walPos{}); f != 0 {
		t.Errorf("a missing WAL: %d frames", f)
	}
}
