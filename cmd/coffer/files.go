package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/bloburl"
	"github.com/cofferhq/coffer/notebooks"
	"github.com/cofferhq/coffer/store/all"
)

// fileOptions are the file settings of "coffer serve".
type fileOptions struct {
	blobURL                        string
	maxFile, maxNotebook, maxOwner int64
	collectEvery                   time.Duration
	deletedGrace, uploadGrace      time.Duration
}

// parseSize reads a size in bytes, with an optional KB, MB, GB or TB
// suffix (powers of 1024).
func parseSize(flag, s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("--%s must be a positive size such as 100MB or 10GB", flag)
	}
	return n * mult, nil
}

// openFiles opens the blob store and sets the file service up.
func openFiles(ctx context.Context, st *all.Store, o fileOptions, dataDir string) (blob.Store, error) {
	b, err := bloburl.Open(ctx, o.blobURL, dataDir)
	if err != nil {
		return nil, err
	}
	st.SetFiles(notebooks.FileConfig{Blobs: b, MaxFileSize: o.maxFile, MaxNotebookBytes: o.maxNotebook, MaxOwnerBytes: o.maxOwner,
		DeletedGrace: o.deletedGrace, UploadGrace: o.uploadGrace})
	return b, nil
}

// startFileCollector runs the orphan collection of files at once, then
// every period, until stop is called.
func startFileCollector(ctx context.Context, st *all.Store, log *slog.Logger, period time.Duration) (stop func()) {
	return every(ctx, period, func(ctx context.Context) {
		n, err := st.CollectFiles(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("collecting deleted files failed", "deleted", n, "error", err.Error())
		case n > 0:
			log.Info("deleted files collected", "blobs", n)
		}
	})
}
