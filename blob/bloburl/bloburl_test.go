package bloburl_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/blob"
	"github.com/cofferhq/coffer/blob/blobtest"
	"github.com/cofferhq/coffer/blob/bloburl"
	"github.com/cofferhq/coffer/blob/local"
	"github.com/cofferhq/coffer/blob/s3"
)

func put(t *testing.T, s blob.Store) {
	t.Helper()
	if _, err := s.Put(context.Background(), "k/x", bytes.NewReader([]byte("hello"))); err != nil {
		t.Fatal(err)
	}
}

func TestOpenLocal(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	s, err := bloburl.Open(ctx, "", data)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*local.Store); !ok {
		t.Fatalf("default store is %T", s)
	}
	put(t, s)
	if b, err := os.ReadFile(filepath.Join(data, "blobs", "k", "x")); err != nil || string(b) != "hello" {
		t.Fatalf("default store is not <data>/blobs: %q, %v", b, err)
	}
	fi, err := os.Stat(filepath.Join(data, "blobs"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("blobs directory mode: %v, %v", fi.Mode(), err)
	}

	other := t.TempDir()
	s2, err := bloburl.Open(ctx, "file://"+other, data)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	put(t, s2)
	if _, err := os.Stat(filepath.Join(other, "k", "x")); err != nil {
		t.Fatalf("file URL: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{
		"file://relative/dir", "file:relative", "file:///abs?x=1", "http://x/y", "/plain/path",
		"s3://KEY:SUPERSECRET@host", "s3://KEY:SUPERSECRET@/bucket", "s3://KEY:SUPERSECRET@host/b?tls=maybe",
		"s3://KEY:SUPERSECRET@host/b?unknown=1", "s3://KEY:SUPERSECRET@host/b?part_size=1024",
		"s3://KEY:SUPERSECRET@host/b/Bad_Prefix", "s3://KEY:SUPERSECRET@host/b/../x", "s3://KEY:SUPER%zzSECRET@host/b",
	} {
		s, err := bloburl.Open(ctx, u, t.TempDir())
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", u)
			continue
		}
		if strings.Contains(err.Error(), "SUPER") {
			t.Errorf("Open(%q): the error repeats the secret: %v", u, err)
		}
	}
	if _, err := bloburl.Open(ctx, "", ""); err == nil {
		t.Error("Open with no URL and no data directory succeeded")
	}
}

func TestParseURL(t *testing.T) {
	got, err := s3.ParseURL("s3://AK%2Fx:S%40cret@127.0.0.1:9000/bucket/some/prefix?tls=false&region=eu-west-3&part_size=16777216&create=true")
	if err != nil {
		t.Fatal(err)
	}
	want := s3.Config{Endpoint: "127.0.0.1:9000", Bucket: "bucket", Prefix: "some/prefix/", AccessKey: "AK/x", SecretKey: "S@cret",
		Region: "eu-west-3", TLS: false, PartSize: 16 << 20, CreateBucket: true}
	if got != want {
		t.Fatalf("ParseURL = %+v\nwant %+v", got, want)
	}
	got, err = s3.ParseURL("s3://a:b@s3.example.com/bucket")
	if err != nil {
		t.Fatal(err)
	}
	if !got.TLS || got.Prefix != "" || got.PartSize != s3.DefaultPartSize || got.CreateBucket {
		t.Fatalf("defaults: %+v", got)
	}
}

func TestOpenS3(t *testing.T) {
	srv := blobtest.MustVersityGW(t)
	ctx := context.Background()
	s, err := bloburl.Open(ctx, srv.URL("viaurl", "p"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*s3.Store); !ok {
		t.Fatalf("s3 URL opened %T", s)
	}
	put(t, s)
	if b := blobtest.MustRead(t, s, "k/x", 0, -1); string(b) != "hello" {
		t.Fatalf("read %q", b)
	}
	// The prefix is where the blob went (the posix backend shows it).
	if _, err := os.Stat(filepath.Join(srv.Dir, "viaurl", "p", "k", "x")); err != nil {
		t.Fatalf("blob not under the prefix: %v", err)
	}
	// A missing bucket without create=true, and wrong credentials, fail.
	noCreate := strings.Replace(srv.URL("nosuchbucket", ""), "create=true", "create=false", 1)
	if s, err := bloburl.Open(ctx, noCreate, ""); err == nil {
		s.Close()
		t.Error("Open of a missing bucket without create succeeded")
	}
	wrong := strings.Replace(srv.URL("viaurl", ""), srv.SecretKey, "wrongsecret", 1)
	if s, err := bloburl.Open(ctx, wrong, ""); err == nil {
		s.Close()
		t.Error("Open with a wrong secret succeeded")
	} else if strings.Contains(err.Error(), "wrongsecret") {
		t.Errorf("error repeats the secret: %v", err)
	}
}
