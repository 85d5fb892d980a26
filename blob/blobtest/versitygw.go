package blobtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/toolbin"
)

// versitygwVersion is the version pinned by tools/versitygw/go.mod.
const versitygwVersion = "v1.8.0"

// versitygw is the server the tests start, built from its tool module.
var versitygwTool = toolbin.Tool{Dir: "versitygw", Version: versitygwVersion, Package: "github.com/versity/versitygw/cmd/versitygw"}

// S3Server is a real S3-compatible server (versitygw with its posix
// backend in a temporary directory) on loopback.
type S3Server struct {
	Endpoint  string // host:port, plain http
	AccessKey string
	SecretKey string
	Dir       string // where the posix backend keeps buckets and objects
}

// URL returns a blob store URL for bucket (created on first use) and key
// prefix on this server.
func (s *S3Server) URL(bucket, prefix string) string {
	return fmt.Sprintf("s3://%s:%s@%s/%s/%s?tls=false&region=us-east-1&create=true", s.AccessKey, s.SecretKey, s.Endpoint, bucket, prefix)
}

// MustVersityGW starts versitygw for the test and stops it, removing its
// files, at cleanup. When it cannot be built the test is skipped with the
// reason, or fails if COFFER_TEST_REQUIRE names s3 (as in CI).
func MustVersityGW(tb testing.TB) *S3Server {
	tb.Helper()
	bin, err := versitygwTool.Binary()
	if err != nil {
		if strings.Contains(os.Getenv("COFFER_TEST_REQUIRE"), "s3") {
			tb.Fatalf("versitygw is required (COFFER_TEST_REQUIRE) but could not be built: %v", err)
		}
		tb.Skipf("skipping: versitygw (the S3 test server) could not be built: %v", err)
	}
	var k [16]byte
	rand.Read(k[:])
	srv := &S3Server{AccessKey: "coffertest", SecretKey: hex.EncodeToString(k[:]), Dir: tb.TempDir()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv.Endpoint = "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "--port", srv.Endpoint, "--quiet", "posix", srv.Dir)
	// Credentials through the environment, not the command line.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+srv.AccessKey, "ROOT_SECRET_KEY="+srv.SecretKey)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start versitygw: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get("http://" + srv.Endpoint + "/")
		if err == nil {
			res.Body.Close()
			return srv // any answer (403 without credentials) means it serves
		}
		select {
		case <-exited:
			tb.Fatalf("versitygw exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("versitygw did not start in 20 s: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
