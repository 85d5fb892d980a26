package main

// The file workloads of coffer bench: one large file (--file-size, 1 GiB
// by default) uploaded over HTTP into a file cell, then downloaded back
// through its authenticated link to a file on the same disk, against a
// plain copy of the same file on the same disk, measured copy, upload,
// download, copy so that all see the same machine. Each is one transfer,
// timed from its first byte to its last (and the fsync of what it wrote).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/cofferhq/coffer"
)

// The file workloads' targets (issue 16, "Performance"): upload and
// download each at least this share of a plain copy's throughput, and the
// process's resident memory growing less than fileMaxGrowth during each.
const (
	fileMinShare  = 0.7
	fileMaxGrowth = 64_000_000 // bytes (decimal MB: the stricter reading)
)

// benchMaxFile is the bench server's limit on one upload (and on its
// notebook's and owner's files): above any --file-size worth running.
const benchMaxFile = 1 << 40

// fileRun is one timed transfer and how much the resident memory of the
// process (server and client: both run here) grew over it.
type fileRun struct {
	took   time.Duration
	growth uint64
}

func (f fileRun) rate(size int64) float64 { return float64(size) / f.took.Seconds() }

// filesResult is what the file workloads measured.
type filesResult struct {
	size                    int64
	copy1, copy2            fileRun
	upload, download        fileRun
	uploadSum, downloadSum  string // hex SHA-256 of the file as sent and as received
	serverSum, fileID, kind string
}

// runFilesBench makes the file, measures the four transfers and checks
// that the file came back byte for byte.
func runFilesBench(ctx context.Context, cfg benchConfig, env *benchEnv, rep *benchReport) error {
	if cfg.fileSize <= 0 {
		return nil
	}
	dir, err := os.MkdirTemp(env.dataDir, "files-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "source.bin")
	sum, err := writeBenchFile(src, cfg.fileSize)
	if err != nil {
		return err
	}
	blobs, err := openFiles(ctx, env.st, fileOptions{maxFile: benchMaxFile, maxNotebook: benchMaxFile, maxOwner: benchMaxFile}, env.dataDir)
	if err != nil {
		return err
	}
	defer blobs.Close()
	owner := coffer.WithCaller(ctx, &coffer.Caller{UserID: env.userID, Email: env.email, SessionID: "bench"})
	tbl, err := env.st.CreateTable(owner, env.notebook, coffer.TableInput{Name: "File bench", Columns: []coffer.ColumnInput{
		{Name: "Name", Type: coffer.TypeText}, {Name: "Attachment", Type: coffer.TypeFile}}})
	if err != nil {
		return err
	}
	rec, err := env.st.CreateRecord(owner, env.notebook, tbl.ID, map[string]any{"Name": "big file"})
	if err != nil {
		return err
	}
	res := &filesResult{size: cfg.fileSize, uploadSum: sum}
	copyTo := filepath.Join(dir, "copy.bin")
	if res.copy1, err = measureRSS(func() error { return plainCopy(src, copyTo) }); err != nil {
		return fmt.Errorf("plain copy: %w", err)
	}
	os.Remove(copyTo)
	uploadURL := env.base + "/notebooks/" + env.notebook + "/tables/" + tbl.ID + "/records/" + rec.ID + "/files/" + tbl.Column("Attachment").ID
	var up struct {
		ID     string `json:"id"`
		Size   int64  `json:"size"`
		Type   string `json:"type"`
		SHA256 string `json:"sha256"`
		URL    string `json:"url"`
	}
	if res.upload, err = measureRSS(func() error { return env.uploadFile(ctx, uploadURL, src, &up) }); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	res.serverSum, res.fileID, res.kind = up.SHA256, up.ID, up.Type
	if up.Size != cfg.fileSize || up.SHA256 != sum {
		return fmt.Errorf("upload: the server kept %d bytes with SHA-256 %s; sent %d bytes with %s", up.Size, up.SHA256, cfg.fileSize, sum)
	}
	got := filepath.Join(dir, "download.bin")
	fileURL := env.base[:len(env.base)-len("/api/v1")] + up.URL
	if res.download, err = measureRSS(func() (err error) { res.downloadSum, err = env.downloadFile(ctx, fileURL, got); return err }); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	os.Remove(got)
	if res.downloadSum != sum {
		return fmt.Errorf("download: SHA-256 %s, want %s", res.downloadSum, sum)
	}
	if res.copy2, err = measureRSS(func() error { return plainCopy(src, copyTo) }); err != nil {
		return fmt.Errorf("plain copy: %w", err)
	}
	rep.files = res
	return nil
}

// writeBenchFile writes size pseudo-random bytes (incompressible, so no
// layer gains from a pattern) to path, synced, and returns their SHA-256.
func writeBenchFile(path string, size int64) (string, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	rng := rand.NewChaCha8([32]byte{16})
	if _, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(rng, size)); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), f.Close()
}

// plainCopy copies src to dst through user space in 1 MiB reads and
// writes, then syncs dst: what a server storing an upload must at least
// do. (io.Copy between two files would use copy_file_range, which moves
// the bytes inside the kernel: no server receiving them over a socket can.)
func plainCopy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	type onlyReader struct{ io.Reader }
	type onlyWriter struct{ io.Writer }
	if _, err := io.CopyBuffer(onlyWriter{out}, onlyReader{in}, make([]byte, 1<<20)); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	return out.Close()
}

// uploadFile streams the file at path as the multipart field "file" (never
// held in memory) and decodes the answer into out.
func (e *benchEnv) uploadFile(ctx context.Context, u, path string, out any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile("file", filepath.Base(path))
		if err == nil {
			_, err = io.CopyBuffer(part, struct{ io.Reader }{f}, make([]byte, 256<<10))
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, "POST", u, pr)
	if err != nil {
		pr.Close()
		return err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return e.client.send(req, http.StatusCreated, out)
}

// downloadFile streams the file at u into path, synced, and returns the
// SHA-256 of what came.
func (e *benchEnv) downloadFile(ctx context.Context, u, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", e.client.auth)
	resp, err := e.client.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return "", fmt.Errorf("GET %s: %s: %s", u, resp.Status, b)
	}
	out, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	defer out.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(io.MultiWriter(out, h), struct{ io.Reader }{resp.Body}, make([]byte, 256<<10)); err != nil {
		return "", err
	}
	if err := out.Sync(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), out.Close()
}

// measureRSS times fn and samples the process's resident memory every 5 ms
// while it runs: growth is the highest sample less the one taken before
// (after a collection that returned free memory to the system).
func measureRSS(fn func() error) (fileRun, error) {
	runtime.GC()
	debug.FreeOSMemory()
	base := procStatusBytes("VmRSS")
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, procStatusBytes("VmRSS"))
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	start := time.Now()
	err := fn()
	took := time.Since(start)
	close(done)
	wg.Wait()
	peak = max(peak, procStatusBytes("VmRSS"))
	r := fileRun{took: took}
	if peak > base {
		r.growth = peak - base
	}
	if base == 0 && err == nil {
		err = errors.New("resident memory cannot be read here (/proc/self/status)")
	}
	return r, err
}

// printFiles prints the file transfers against the plain copy.
func (r *benchReport) printFiles(w io.Writer) {
	f := r.files
	if f == nil {
		return
	}
	mb := func(run fileRun) float64 { return run.rate(f.size) / 1e6 }
	copyRate := (mb(f.copy1) + mb(f.copy2)) / 2
	fmt.Fprintf(w, "\nFiles (one file of %s, sealed in chunks on the local blob store; copy, upload, download, copy; the plain copy is the mean of the two):\n", fmt.Sprintf("%d bytes (%.2f GiB)", f.size, float64(f.size)/(1<<30)))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "transfer\ttime\tMB/s\tvs plain copy\ttarget\tRSS growth\ttarget\tmet")
	fmt.Fprintf(tw, "plain copy (read, write, fsync)\t%s / %s\t%.0f\t\t\t%s / %s\t\t\n", f.copy1.took.Round(time.Millisecond), f.copy2.took.Round(time.Millisecond), copyRate, fmtMB(f.copy1.growth), fmtMB(f.copy2.growth))
	for _, p := range []struct {
		name string
		run  fileRun
	}{{"upload over HTTP (multipart, streamed)", f.upload}, {"download over HTTP (/files/{id} to a file, fsync)", f.download}} {
		share := mb(p.run) / copyRate
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.2f×\t≥ %.1f×\t%s\t< %s\t%s\n", p.name, p.run.took.Round(time.Millisecond), mb(p.run), share, fileMinShare,
			fmtMB(p.run.growth), fmtMB(fileMaxGrowth), yesNo(share >= fileMinShare && p.run.growth < fileMaxGrowth))
	}
	tw.Flush()
	fmt.Fprintf(w, "the file came back byte for byte (SHA-256 %s…, detected type %s)\n", f.downloadSum[:16], f.kind)
}
