// Package bloburl opens the blob store a configuration URL names (it sits
// beside package blob because it imports both stores, which import blob).
package bloburl

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/local"
	"github.com/cofferhq/coffer/blob/s3"
)

// EnvVar is the environment variable `coffer serve` reads the URL from.
const EnvVar = "COFFER_BLOB_URL"

// Open opens the blob store rawURL names:
//
//	""                    the directory <dataDir>/blobs (the default)
//	file:///abs/dir       a local directory elsewhere
//	s3://ACCESS:SECRET@host:port/bucket/prefix?tls=false&region=R
//	                      an S3-compatible bucket (see s3.ParseURL)
//
// Errors never repeat the URL (it may hold a secret).
func Open(ctx context.Context, rawURL, dataDir string) (blob.Store, error) {
	switch {
	case rawURL == "":
		if dataDir == "" {
			return nil, errors.New("blob store: no URL and no data directory")
		}
		return local.Open(filepath.Join(dataDir, "blobs"))
	case strings.HasPrefix(rawURL, "file:"):
		u, err := url.Parse(rawURL)
		if err != nil || u.Host != "" || !filepath.IsAbs(u.Path) || u.RawQuery != "" {
			return nil, errors.New("blob store: a file URL is file:///absolute/directory")
		}
		return local.Open(filepath.Clean(u.Path))
	case strings.HasPrefix(rawURL, "s3:"):
		cfg, err := s3.ParseURL(rawURL)
		if err != nil {
			return nil, err
		}
		return s3.Open(ctx, cfg)
	}
	return nil, errors.New("blob store: the URL starts with s3:// or file:// (or is empty: a directory in the data directory)")
}
