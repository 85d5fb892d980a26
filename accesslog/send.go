package accesslog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/cofferhq/coffer"
)

// Notification is one delivery of a watch rule on one channel.
type Notification struct {
	Notebook string
	Watch    string
	Delivery string // the delivery's id
	Event    string // the event's id: the webhook-id header
	Channel  string // coffer.ChannelEmail or coffer.ChannelWebhook
	// Webhook.
	URL, Secret string
	Body        []byte
	// E-mail.
	To, Subject, Text string
}

// SenderOptions tune a Sender; zero values take the defaults.
type SenderOptions struct {
	// AllowPrivate lets webhooks reach loopback and private addresses
	// (off by default: a rule's author could otherwise probe the
	// server's own network).
	AllowPrivate bool
	// Attempts bounds the tries of one delivery (default 6).
	Attempts int
	// Backoff is the wait after the first failure, doubled after each
	// next one (default 5 s), up to MaxBackoff (default 10 min).
	Backoff, MaxBackoff time.Duration
	// Timeout bounds one attempt (default 15 s).
	Timeout time.Duration
	// Mail sends an e-mail now; nil when no SMTP server is configured.
	Mail   func(ctx context.Context, to, subject, text string) error
	Logger *slog.Logger
	// Now is the clock of webhook timestamps (default time.Now).
	Now func() time.Time
}

// Outcome is the state of a delivery after an attempt.
type Outcome struct {
	Status     string // coffer.DeliveryPending (will retry), DeliveryDelivered or DeliveryFailed
	Attempts   int
	HTTPStatus int
	Error      string
}

// Sender delivers notifications in the background, retrying with
// exponential backoff, and reports each attempt's outcome.
type Sender struct {
	opts   SenderOptions
	client *http.Client
	report func(n *Notification, o Outcome)
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	slots  chan struct{} // bounds the attempts in flight
}

// NewSender returns a sender that calls report after every attempt.
func NewSender(opts SenderOptions, report func(n *Notification, o Outcome)) *Sender {
	if opts.Attempts <= 0 {
		opts.Attempts = 6
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 5 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Minute
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	d := &net.Dialer{Timeout: opts.Timeout}
	if !opts.AllowPrivate {
		d.Control = guardDial
	}
	tr := &http.Transport{DialContext: d.DialContext, TLSHandshakeTimeout: opts.Timeout, MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute}
	client := &http.Client{Transport: tr, Timeout: opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &Sender{opts: opts, client: client, report: report, stop: make(chan struct{}), slots: make(chan struct{}, 16)}
}

// AllowPrivate reports whether webhooks may reach private addresses.
func (s *Sender) AllowPrivate() bool { return s.opts.AllowPrivate }

// Send starts delivering n and returns at once.
func (s *Sender) Send(n Notification) {
	select {
	case <-s.stop:
		s.report(&n, Outcome{Status: coffer.DeliveryFailed, Error: "the server is shutting down"})
		return
	default:
	}
	s.wg.Add(1)
	go s.deliver(&n)
}

// Close stops retrying and waits (until ctx ends) for attempts in flight.
func (s *Sender) Close(ctx context.Context) {
	s.once.Do(func() { close(s.stop) })
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (s *Sender) deliver(n *Notification) {
	defer s.wg.Done()
	wait := s.opts.Backoff
	for attempt := 1; ; attempt++ {
		s.slots <- struct{}{}
		code, err := s.attempt(n)
		<-s.slots
		o := Outcome{Attempts: attempt, HTTPStatus: code, Status: coffer.DeliveryDelivered}
		if err != nil {
			o.Error = Truncate(err.Error(), 300)
			o.Status = coffer.DeliveryPending
			if attempt >= s.opts.Attempts {
				o.Status = coffer.DeliveryFailed
			}
		}
		s.report(n, o)
		if o.Status != coffer.DeliveryPending {
			return
		}
		select {
		case <-time.After(wait):
		case <-s.stop:
			return
		}
		wait = min(wait*2, s.opts.MaxBackoff)
	}
}

// attempt tries a delivery once; it returns the HTTP status of a webhook.
func (s *Sender) attempt(n *Notification) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
	defer cancel()
	if n.Channel == coffer.ChannelEmail {
		if s.opts.Mail == nil {
			return 0, errors.New("no SMTP server is configured")
		}
		return 0, s.opts.Mail(ctx, n.To, n.Subject, n.Text)
	}
	if err := CheckURL(n.URL, s.opts.AllowPrivate); err != nil {
		return 0, fmt.Errorf("the webhook URL %v", err)
	}
	ts := s.opts.Now()
	sig, err := Sign(n.Secret, n.Event, ts, n.Body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(n.Body))
	if err != nil {
		return 0, errors.New("the webhook URL is not valid")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Coffer-Webhooks/1")
	req.Header.Set("webhook-id", n.Event)
	req.Header.Set("webhook-timestamp", fmt.Sprint(ts.Unix()))
	req.Header.Set("webhook-signature", sig)
	res, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may carry a token
		}
		if errors.Is(err, ErrURLPrivate) {
			return 0, fmt.Errorf("the webhook URL %v", ErrURLPrivate)
		}
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return res.StatusCode, fmt.Errorf("the receiver answered %d", res.StatusCode)
	}
	return res.StatusCode, nil
}
