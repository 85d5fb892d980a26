// Package mail sends Coffer's e-mail (password reset links, alerts) over
// SMTP. The server is configured by one URL:
//
//	smtp://user:password@host:587?from=coffer@example.com   STARTTLS (required)
//	smtps://user:password@host:465?from=coffer@example.com  implicit TLS
//	smtp://127.0.0.1:1025?from=coffer@localhost&tls=none    no TLS: loopback only, for tests
//
// A Sender delivers messages in the background from a bounded queue, with
// retries, so that a request's timing never depends on whether a message
// was sent (no account enumeration by timing). Failures are logged without
// secrets: the password of the URL never reaches a log or an error.
package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLS modes of the connection to the SMTP server.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS; refused if the server cannot
	TLSImplicit = "implicit" // TLS from the first byte (smtps://, usually port 465)
	TLSNone     = "none"     // no encryption: only to a loopback address
)

// Config says how to reach the SMTP server. Its String method hides the
// password.
type Config struct {
	Host     string
	Port     int
	Username string
	Password string
	From     string // envelope and header sender, an e-mail address
	TLS      string // TLSStartTLS (default), TLSImplicit or TLSNone
	Timeout  time.Duration
}

// String describes the configuration for logs, without the password.
func (c Config) String() string {
	user := ""
	if c.Username != "" {
		user = c.Username + ":***@"
	}
	return fmt.Sprintf("smtp %s%s (tls %s, from %s)", user, net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), c.TLS, c.From)
}

// ParseURL reads an SMTP URL (see the package comment). from, when not
// empty, overrides the URL's from parameter. Errors never quote the URL,
// which may hold a password.
func ParseURL(raw, from string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, errors.New("the SMTP URL is not a valid URL (smtp://user:password@host:587?from=…)")
	}
	c := Config{Host: u.Hostname(), Timeout: 30 * time.Second}
	q := u.Query()
	switch u.Scheme {
	case "smtp":
		c.TLS, c.Port = TLSStartTLS, 587
	case "smtps":
		c.TLS, c.Port = TLSImplicit, 465
	default:
		return Config{}, errors.New("the SMTP URL must start with smtp:// (STARTTLS) or smtps:// (implicit TLS)")
	}
	if c.Host == "" {
		return Config{}, errors.New("the SMTP URL has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Config{}, errors.New("the SMTP URL's port is not valid")
		}
		c.Port = n
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	for k := range q {
		switch k {
		case "from", "tls", "timeout":
		default:
			return Config{}, fmt.Errorf("the SMTP URL has an unknown parameter %q (from, tls, timeout)", k)
		}
	}
	switch t := q.Get("tls"); t {
	case "":
	case TLSNone:
		if u.Scheme != "smtp" {
			return Config{}, errors.New("tls=none goes with smtp://, not smtps://")
		}
		if !loopback(c.Host) {
			return Config{}, errors.New("tls=none is allowed only for a loopback SMTP server (127.0.0.1, ::1, localhost): mail to another host would travel in clear")
		}
		c.TLS = TLSNone
	case TLSStartTLS, TLSImplicit:
		c.TLS = t
	default:
		return Config{}, errors.New("the SMTP URL's tls parameter must be starttls, implicit or none")
	}
	if t := q.Get("timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			return Config{}, errors.New("the SMTP URL's timeout must be a duration such as 30s")
		}
		c.Timeout = d
	}
	c.From = q.Get("from")
	if from != "" {
		c.From = from
	}
	if c.From == "" {
		return Config{}, errors.New("the sender address is missing: add ?from=coffer@example.com to the SMTP URL or pass --smtp-from")
	}
	if a, err := mail.ParseAddress(c.From); err != nil || a.Name != "" || strings.ContainsAny(c.From, "\r\n") {
		return Config{}, errors.New("the sender address is not a valid e-mail address")
	}
	return c, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Message is a plain-text e-mail to one recipient.
type Message struct {
	To      string
	Subject string
	Text    string
	// Kind names the message for logs (e.g. "password_reset"): logs never
	// hold the subject or body, which may carry tokens.
	Kind string
}

// Sender delivers messages through one SMTP server, in the background.
type Sender struct {
	cfg     Config
	log     *slog.Logger
	queue   chan Message
	retries []time.Duration
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// Options tune a Sender; zero values take the defaults.
type Options struct {
	Logger *slog.Logger // default slog.Default()
	// QueueSize bounds the messages waiting to be sent (default 256); a
	// message that finds the queue full is dropped and logged.
	QueueSize int
	// Retries are the waits before each new attempt after a failure
	// (default 2 s, 10 s, 1 min, 5 min).
	Retries []time.Duration
}

// NewSender checks cfg and starts the background sender. Close stops it.
func NewSender(cfg Config, opts Options) (*Sender, error) {
	if cfg.Host == "" || cfg.Port == 0 || cfg.From == "" {
		return nil, errors.New("mail: incomplete SMTP configuration")
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = TLSStartTLS
	case TLSStartTLS, TLSImplicit:
	case TLSNone:
		if !loopback(cfg.Host) {
			return nil, errors.New("mail: no TLS is allowed only for a loopback SMTP server")
		}
	default:
		return nil, errors.New("mail: unknown TLS mode")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.Retries == nil {
		opts.Retries = []time.Duration{2 * time.Second, 10 * time.Second, time.Minute, 5 * time.Minute}
	}
	s := &Sender{cfg: cfg, log: opts.Logger, queue: make(chan Message, opts.QueueSize), retries: opts.Retries,
		stop: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s, nil
}

// Config returns the sender's configuration.
func (s *Sender) Config() Config { return s.cfg }

// Enqueue queues m for delivery and returns at once. It reports false when
// the queue is full or the sender is closed (the message is dropped and
// logged).
func (s *Sender) Enqueue(m Message) bool {
	select {
	case <-s.stop:
		s.log.Warn("mail not queued: the sender is closed", "kind", m.Kind)
		return false
	default:
	}
	select {
	case s.queue <- m:
		return true
	default:
		s.log.Warn("mail not queued: the queue is full", "kind", m.Kind)
		return false
	}
}

// Close stops taking messages, tries to send those already queued until
// ctx ends, and returns when the background sender has stopped.
func (s *Sender) Close(ctx context.Context) {
	s.once.Do(func() { close(s.stop) })
	select {
	case <-s.done:
	case <-ctx.Done():
	}
}

func (s *Sender) run() {
	defer close(s.done)
	for {
		select {
		case m := <-s.queue:
			s.deliver(m)
		case <-s.stop:
			// Drain what is queued, once each, without waiting for retries.
			for {
				select {
				case m := <-s.queue:
					ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
					if err := s.Send(ctx, m); err != nil {
						s.log.Error("mail not sent", "kind", m.Kind, "error", err.Error())
					}
					cancel()
				default:
					return
				}
			}
		}
	}
}

// deliver sends m, retrying after failures.
func (s *Sender) deliver(m Message) {
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
		err := s.Send(ctx, m)
		cancel()
		if err == nil {
			return
		}
		if attempt >= len(s.retries) {
			s.log.Error("mail not sent: giving up", "kind", m.Kind, "attempts", attempt+1, "error", err.Error())
			return
		}
		s.log.Warn("mail not sent: will retry", "kind", m.Kind, "attempt", attempt+1, "retry_in", s.retries[attempt].String(), "error", err.Error())
		select {
		case <-time.After(s.retries[attempt]):
		case <-s.stop:
			return
		}
	}
}

// Send delivers m now, over a new connection. Most callers want Enqueue.
func (s *Sender) Send(ctx context.Context, m Message) error {
	if strings.ContainsAny(m.To, "\r\n") || strings.ContainsAny(m.Subject, "\r\n") {
		return errors.New("mail: header values must be one line")
	}
	msg := gomail.NewMsg()
	if err := msg.From(s.cfg.From); err != nil {
		return errors.New("mail: the sender address is not valid")
	}
	if err := msg.To(m.To); err != nil {
		return errors.New("mail: the recipient address is not valid")
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	opts := []gomail.Option{gomail.WithPort(s.cfg.Port), gomail.WithTimeout(s.cfg.Timeout)}
	switch s.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	c, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("mail: %s", s.scrub(err.Error()))
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("mail: sending through %s:%d: %s", s.cfg.Host, s.cfg.Port, s.scrub(err.Error()))
	}
	return nil
}

// scrub removes the password from an error text, should a library ever
// quote it.
func (s *Sender) scrub(text string) string {
	if s.cfg.Password == "" {
		return text
	}
	return strings.ReplaceAll(text, s.cfg.Password, "***")
}
