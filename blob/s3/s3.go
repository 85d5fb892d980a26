// Package s3 is a blob store in a bucket of an S3-compatible object store
// (AWS S3, MinIO, versitygw, Ceph RGW, …), through minio-go.
//
// Memory: Put reads up to SmallSize bytes (1 MiB); a blob that ends within
// them goes up in one PUT from that buffer. A larger one goes up as a
// multipart upload of unknown length, for which minio-go allocates one
// buffer of Config.PartSize bytes (default 8 MiB, minimum 5 MiB) and sends
// the parts one after another, so a Put holds at most SmallSize + PartSize
// whatever the size of the blob (and the largest blob is 10,000 parts:
// 80 GB at the default). A failed or cancelled multipart upload is aborted
// by minio-go, so nothing becomes visible. Reads stream the response body.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cofferhq/coffer/blob"
)

const (
	// DefaultPartSize is the multipart part size when Config.PartSize is 0.
	DefaultPartSize = 8 << 20
	// MinPartSize is S3's smallest part size.
	MinPartSize = 5 << 20
	// SmallSize is the size under which a blob goes up in one request.
	SmallSize = 1 << 20
)

// Config says where the bucket is.
type Config struct {
	Endpoint  string // host:port
	Bucket    string
	Prefix    string // prepended to every key; a slash is added when missing
	AccessKey string
	SecretKey string
	Region    string // "" lets minio-go discover it
	TLS       bool   // https (the default of ParseURL); plain http only on trusted networks
	PartSize  int64  // multipart part size, ≥ MinPartSize; 0: DefaultPartSize
	// CreateBucket creates the bucket when it does not exist (with
	// object lock enabled when LockMode is set).
	CreateBucket bool
	// LockMode, when set ("compliance" or "governance"), writes every
	// object under an object-lock retention of that mode for LockDays
	// days, so that these credentials cannot delete or replace it
	// meanwhile (compliance: nobody can; governance: only with the
	// bypass permission). The bucket must have object lock enabled.
	LockMode string
	LockDays int
}

// ParseURL reads a configuration of the form
//
//	s3://ACCESS:SECRET@host:port/bucket/prefix?tls=false&region=R&part_size=BYTES&create=true&lock=compliance&lock_days=N
//
// Access key and secret are percent-decoded; tls defaults to true.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the URL, secret included: say less.
		return Config{}, errors.New("s3: the blob store URL does not parse")
	}
	if u.Scheme != "s3" {
		return Config{}, fmt.Errorf("s3: the blob store URL starts with s3://, not %s://", u.Scheme)
	}
	c := Config{Endpoint: u.Host, TLS: true}
	if u.User != nil {
		c.AccessKey = u.User.Username()
		c.SecretKey, _ = u.User.Password()
	}
	path := strings.TrimPrefix(u.Path, "/")
	c.Bucket, c.Prefix, _ = strings.Cut(path, "/")
	q := u.Query()
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "tls":
			c.TLS, err = strconv.ParseBool(v)
			if err != nil {
				return Config{}, fmt.Errorf("s3: tls=%q is not true or false", v)
			}
		case "region":
			c.Region = v
		case "part_size":
			c.PartSize, err = strconv.ParseInt(v, 10, 64)
			if err != nil {
				return Config{}, fmt.Errorf("s3: part_size=%q is not a number of bytes", v)
			}
		case "create":
			c.CreateBucket, err = strconv.ParseBool(v)
			if err != nil {
				return Config{}, fmt.Errorf("s3: create=%q is not true or false", v)
			}
		case "lock":
			c.LockMode = v
		case "lock_days":
			c.LockDays, err = strconv.Atoi(v)
			if err != nil {
				return Config{}, fmt.Errorf("s3: lock_days=%q is not a number of days", v)
			}
		default:
			return Config{}, fmt.Errorf("s3: unknown parameter %q in the blob store URL", k)
		}
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	if c.Endpoint == "" {
		return errors.New("s3: the blob store URL names no host")
	}
	if c.Bucket == "" {
		return errors.New("s3: the blob store URL names no bucket")
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.PartSize < MinPartSize || c.PartSize > 5<<30 {
		return fmt.Errorf("s3: part size %d out of [%d, %d]", c.PartSize, MinPartSize, int64(5<<30))
	}
	switch c.LockMode {
	case "":
		if c.LockDays != 0 {
			return errors.New("s3: lock_days without lock=compliance or lock=governance")
		}
	case "compliance", "governance":
		if c.LockDays < 1 || c.LockDays > 36500 {
			return fmt.Errorf("s3: lock_days %d out of [1, 36500]", c.LockDays)
		}
	default:
		return fmt.Errorf("s3: lock=%q is not compliance or governance", c.LockMode)
	}
	if c.Prefix != "" {
		c.Prefix = strings.TrimSuffix(c.Prefix, "/") + "/"
		if err := blob.ValidPrefix(c.Prefix); err != nil {
			return fmt.Errorf("s3: the key prefix %q: %w", c.Prefix, err)
		}
	}
	return nil
}

// Store is a blob store in an S3 bucket.
type Store struct {
	c        *minio.Core
	bucket   string
	prefix   string
	part     uint64
	lockMode minio.RetentionMode // "" when objects are written without a lock
	lockFor  time.Duration
}

var (
	_ blob.Store               = (*Store)(nil)
	_ blob.IncompleteCollector = (*Store)(nil)
)

// Open connects to the bucket; it checks the bucket exists (creating it
// when CreateBucket is set).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c, err := minio.NewCore(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.TLS,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	s := &Store{c: c, bucket: cfg.Bucket, prefix: cfg.Prefix, part: uint64(cfg.PartSize),
		lockMode: minio.RetentionMode(strings.ToUpper(cfg.LockMode)), lockFor: time.Duration(cfg.LockDays) * 24 * time.Hour}
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3: bucket %q at %s: %w", cfg.Bucket, cfg.Endpoint, err)
	}
	if !ok {
		if !cfg.CreateBucket {
			return nil, fmt.Errorf("s3: bucket %q does not exist at %s", cfg.Bucket, cfg.Endpoint)
		}
		if err := c.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region, ObjectLocking: s.lockMode != ""}); err != nil {
			return nil, fmt.Errorf("s3: create bucket %q: %w", cfg.Bucket, err)
		}
	}
	if s.lockMode != "" {
		enabled, _, _, _, err := c.Client.GetObjectLockConfig(ctx, cfg.Bucket)
		if err != nil || enabled != "Enabled" {
			return nil, fmt.Errorf("s3: lock=%s needs object lock enabled on bucket %q", cfg.LockMode, cfg.Bucket)
		}
	}
	return s, nil
}

// ObjectLock returns how long after it is written an object cannot be
// deleted (Config.LockDays), or 0 when objects are written without an
// object-lock retention. It implements backup/location.Locker.
func (s *Store) ObjectLock() time.Duration {
	if s.lockMode == "" {
		return 0
	}
	return s.lockFor
}

// Close implements blob.Store (nothing to release).
func (s *Store) Close() error { return nil }

func (s *Store) notFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.StatusCode == http.StatusNotFound || r.Code == minio.NoSuchKey
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := blob.ValidKey(key); err != nil {
		return 0, err
	}
	r = blob.ContextReader(ctx, r)
	small := make([]byte, SmallSize)
	n, err := io.ReadFull(r, small)
	opts := minio.PutObjectOptions{PartSize: s.part, ContentType: "application/octet-stream"}
	if s.lockMode != "" {
		opts.Mode, opts.RetainUntilDate = s.lockMode, time.Now().Add(s.lockFor)
	}
	var info minio.UploadInfo
	switch err {
	case io.EOF, io.ErrUnexpectedEOF:
		info, err = s.c.Client.PutObject(ctx, s.bucket, s.prefix+key, bytes.NewReader(small[:n]), int64(n), opts)
	case nil:
		info, err = s.c.Client.PutObject(ctx, s.bucket, s.prefix+key, io.MultiReader(bytes.NewReader(small), r), -1, opts)
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return 0, cerr
		}
		return 0, fmt.Errorf("s3: put %s: %w", key, err)
	}
	return info.Size, nil
}

// LockedUntil returns when the object-lock retention of the object under
// key ends: the zero time when it has none.
func (s *Store) LockedUntil(ctx context.Context, key string) (time.Time, error) {
	if err := blob.ValidKey(key); err != nil {
		return time.Time{}, err
	}
	oi, err := s.c.Client.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		if s.notFound(err) {
			return time.Time{}, blob.NotFound("blob/s3.LockedUntil", key)
		}
		return time.Time{}, fmt.Errorf("s3: stat %s: %w", key, err)
	}
	v := oi.Metadata.Get("X-Amz-Object-Lock-Retain-Until-Date")
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("s3: %s: retain-until date %q does not parse", key, v)
	}
	return t, nil
}

// ExtendLock sets the object-lock retention of the object under key to
// end at until, in the store's lock mode (Config.LockMode). The server
// refuses to shorten a retention.
func (s *Store) ExtendLock(ctx context.Context, key string, until time.Time) error {
	if err := blob.ValidKey(key); err != nil {
		return err
	}
	if s.lockMode == "" {
		return fmt.Errorf("s3: extend the lock of %s: the store writes without object lock", key)
	}
	mode := s.lockMode
	if err := s.c.Client.PutObjectRetention(ctx, s.bucket, s.prefix+key, minio.PutObjectRetentionOptions{Mode: &mode, RetainUntilDate: &until}); err != nil {
		if s.notFound(err) {
			return blob.NotFound("blob/s3.ExtendLock", key)
		}
		return fmt.Errorf("s3: extend the lock of %s: %w", key, err)
	}
	return nil
}

// Open implements blob.Store.
func (s *Store) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := blob.ValidKey(key); err != nil {
		return nil, err
	}
	if err := blob.ValidRange(offset, length); err != nil {
		return nil, err
	}
	if length == 0 {
		if _, err := s.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	var opts minio.GetObjectOptions
	switch {
	case offset == 0 && length < 0:
	case length < 0:
		opts.SetRange(offset, 0)
	default:
		opts.SetRange(offset, offset+length-1)
	}
	rc, _, _, err := s.c.GetObject(ctx, s.bucket, s.prefix+key, opts)
	if err != nil {
		if s.notFound(err) {
			return nil, blob.NotFound("blob/s3.Open", key)
		}
		if minio.ToErrorResponse(err).StatusCode == http.StatusRequestedRangeNotSatisfiable {
			return io.NopCloser(strings.NewReader("")), nil // the range starts at or past the end
		}
		return nil, fmt.Errorf("s3: get %s: %w", key, err)
	}
	return rc, nil
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := blob.ValidKey(key); err != nil {
		return blob.Info{}, err
	}
	oi, err := s.c.Client.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		if s.notFound(err) {
			return blob.Info{}, blob.NotFound("blob/s3.Stat", key)
		}
		return blob.Info{}, fmt.Errorf("s3: stat %s: %w", key, err)
	}
	return blob.Info{Key: key, Size: oi.Size, Modified: oi.LastModified}, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := blob.ValidKey(key); err != nil {
		return err
	}
	err := s.c.Client.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{})
	if err != nil && !s.notFound(err) {
		return fmt.Errorf("s3: delete %s: %w", key, err)
	}
	return nil
}

// List implements blob.Store.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	if err := blob.ValidPrefix(prefix); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine when fn fails
	for oi := range s.c.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if oi.Err != nil {
			return fmt.Errorf("s3: list %s: %w", prefix, oi.Err)
		}
		key := strings.TrimPrefix(oi.Key, s.prefix)
		if blob.ValidKey(key) != nil {
			continue // not ours (a directory marker, another tool's object)
		}
		if err := fn(blob.Info{Key: key, Size: oi.Size, Modified: oi.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// CollectIncomplete implements blob.IncompleteCollector: it aborts the
// multipart uploads under prefix initiated before olderThan (left by a
// process that died mid-upload; minio-go aborts those that fail).
func (s *Store) CollectIncomplete(ctx context.Context, prefix string, olderThan time.Time) (int, error) {
	if err := blob.ValidPrefix(prefix); err != nil {
		return 0, err
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type upload struct{ key, id string }
	var old []upload
	for u := range s.c.Client.ListIncompleteUploads(lctx, s.bucket, s.prefix+prefix, true) {
		if u.Err != nil {
			return 0, fmt.Errorf("s3: list unfinished uploads under %s: %w", prefix, u.Err)
		}
		if u.Initiated.Before(olderThan) {
			old = append(old, upload{u.Key, u.UploadID})
		}
	}
	n := 0
	for _, u := range old {
		if err := s.c.AbortMultipartUpload(ctx, s.bucket, u.key, u.id); err != nil && !s.notFound(err) {
			return n, fmt.Errorf("s3: abort an unfinished upload: %w", err)
		}
		n++
	}
	return n, nil
}
