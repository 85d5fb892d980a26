package storetest

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/toolbin"
	"github.com/cofferhq/coffer/mail"
)

// mailpitVersion is the version pinned by tools/mailpit/go.mod (the api
// tests build the same binary into the same cache).
const mailpitVersion = "v1.33.1"

// mailpit is the server the tests start, built from its tool module.
var mailpitTool = toolbin.Tool{Dir: "mailpit", Version: mailpitVersion, Package: "github.com/axllent/mailpit"}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Mailpit is a real SMTP server with an HTTP API, started on loopback.
type Mailpit struct {
	TB   testing.TB
	SMTP mail.Config // to send through it (no TLS: loopback)
	API  string      // base URL of its HTTP API
}

// MustMailpit starts mailpit for the test and stops it at cleanup. Without
// a way to build it the test is skipped, unless COFFER_TEST_REQUIRE names
// smtp.
func MustMailpit(tb testing.TB) *Mailpit {
	tb.Helper()
	bin, err := mailpitTool.Binary()
	if err != nil {
		if strings.Contains(os.Getenv("COFFER_TEST_REQUIRE"), "smtp") {
			tb.Fatalf("mailpit is required (COFFER_TEST_REQUIRE) but could not be built: %v", err)
		}
		tb.Skipf("skipping: mailpit (the SMTP test server) could not be built: %v", err)
	}
	httpPort, smtpPort := freePort(tb), freePort(tb)
	cmd := exec.Command(bin, "--listen", "127.0.0.1:"+strconv.Itoa(httpPort), "--smtp", "127.0.0.1:"+strconv.Itoa(smtpPort),
		"--disable-version-check", "--quiet")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start mailpit: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	mp := &Mailpit{TB: tb, API: "http://127.0.0.1:" + strconv.Itoa(httpPort),
		SMTP: mail.Config{Host: "127.0.0.1", Port: smtpPort, From: "coffer@localhost", TLS: mail.TLSNone, Timeout: 5 * time.Second}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(mp.API + "/api/v1/messages")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(smtpPort)); err == nil {
					c.Close()
					return mp
				}
			}
		}
		select {
		case <-exited:
			tb.Fatalf("mailpit exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("mailpit did not start in 20 s: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// MailpitMessage is a message in mailpit's list.
type MailpitMessage struct {
	ID      string
	Subject string
	To      []struct{ Address string }
}

// WaitMessages waits until n messages to addr arrived and returns them.
func (m *Mailpit) WaitMessages(addr string, n int) []MailpitMessage {
	m.TB.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(m.API + "/api/v1/messages")
		if err != nil {
			m.TB.Fatalf("mailpit messages: %v", err)
		}
		var list struct{ Messages []MailpitMessage }
		err = json.NewDecoder(res.Body).Decode(&list)
		res.Body.Close()
		if err != nil {
			m.TB.Fatalf("mailpit messages: %v", err)
		}
		var got []MailpitMessage
		for _, s := range list.Messages {
			for _, to := range s.To {
				if strings.EqualFold(to.Address, addr) {
					got = append(got, s)
				}
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			m.TB.Fatalf("mailpit: %d messages to %s after 20 s, want %d", len(got), addr, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Text returns the plain-text body of a message.
func (m *Mailpit) Text(id string) string {
	m.TB.Helper()
	res, err := http.Get(m.API + "/api/v1/message/" + id)
	if err != nil {
		m.TB.Fatalf("mailpit message: %v", err)
	}
	defer res.Body.Close()
	var msg struct{ Text string }
	if err := json.NewDecoder(res.Body).Decode(&msg); err != nil {
		m.TB.Fatalf("mailpit message: %v", err)
	}
	return msg.Text
}
