package api_test

import (
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

// BenchmarkFileTransfer uploads and downloads a 64 MiB file over HTTP
// (multipart in, encrypted in chunks to the local blob store, decrypted
// out) and copies the same bytes from file to file on the same disk
// (synced, as the blob store syncs), in one run: the ratios are the
// upload's and the download's throughput over the plain copy's.
func BenchmarkFileTransfer(b *testing.B) {
	const size = 64 << 20
	f := mustFilesEnv(b)
	cfg := f.Store.FileConfig()
	cfg.MaxFileSize = 128 << 20
	f.Store.SetFiles(cfg)
	src := filepath.Join(b.TempDir(), "src")
	w, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(w, &patternReader{left: size})
	w.Sync()
	w.Close()
	// A client that writes and reads in large pieces, as a browser does:
	// the default 4 KiB buffers would measure the client.
	client := &http.Client{Transport: &http.Transport{WriteBufferSize: 256 << 10, ReadBufferSize: 256 << 10}}
	var up, down, plain time.Duration
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		in, _ := os.Open(src)
		out, _ := os.Create(filepath.Join(f.Dir, "plain-copy"))
		io.Copy(out, in)
		out.Sync()
		out.Close()
		in.Close()
		plain += time.Since(t0)

		t0 = time.Now()
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			part, err := mw.CreateFormFile("file", "big.bin")
			if err == nil {
				in, _ := os.Open(src)
				_, err = io.Copy(part, in)
				in.Close()
			}
			if err == nil {
				err = mw.Close()
			}
			pw.CloseWithError(err)
		}()
		req, _ := http.NewRequest("POST", f.URL+"/api/v1/notebooks/"+f.nb+"/tables/Docs/records/"+f.rec+"/files/Files", pr)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+f.key)
		res, err := client.Do(req)
		if err != nil || res.StatusCode != http.StatusCreated {
			b.Fatalf("upload: %v %v", res, err)
		}
		var fl coffer.File
		if err := json.NewDecoder(res.Body).Decode(&fl); err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		up += time.Since(t0)

		t0 = time.Now()
		req, _ = http.NewRequest("GET", f.URL+fl.URL, nil)
		req.Header.Set("Authorization", "Bearer "+f.key)
		res, err = client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if n != size {
			b.Fatalf("download: %d bytes", n)
		}
		down += time.Since(t0)
		b.StopTimer()
		f.Do("DELETE", "/api/v1/files/"+fl.ID, f.key, nil).WantStatus(http.StatusNoContent)
		b.StartTimer()
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / (1 << 20) }
	b.ReportMetric(mbps(plain), "plain-MiB/s")
	b.ReportMetric(mbps(up), "upload-MiB/s")
	b.ReportMetric(mbps(down), "download-MiB/s")
	b.ReportMetric(plain.Seconds()/up.Seconds(), "upload/plain")
	b.ReportMetric(plain.Seconds()/down.Seconds(), "download/plain")
}
