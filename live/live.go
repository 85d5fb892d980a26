// Package live carries the events of committed record writes to the
// clients that follow a table (the API's server-sent events).
//
// An Event names a record and what happened to it, never its values:
// whoever delivers it to a client reads the record again, as that client,
// through the access engine. A Broker fans events out to the subscribers
// of one process; on a shared database (PostgreSQL) every node feeds its
// broker from the database's notifications, so a write on one node
// reaches the subscribers of all.
//
// A broker never blocks a writer: each subscriber has a bounded buffer,
// and one that falls behind is dropped (its Dropped channel closes) and
// must subscribe again.
package live

import (
	"encoding/json"
	"sync"
)

// Operations of an Event.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpDelete = "delete"
)

// Event is one committed change of one record: ids only, never values.
type Event struct {
	Notebook string `json:"n"`
	Table    string `json:"t"` // table id
	Record   string `json:"r"`
	Op       string `json:"o"` // OpCreate, OpUpdate or OpDelete
	// Version is the record's version after the change (0 for a delete).
	Version int64 `json:"v,omitempty"`
	// Cols are the ids of the columns an update set (none for a create or
	// a delete): whoever delivers the event tells a reader nothing of a
	// change confined to cells hidden from them.
	Cols []string `json:"c,omitempty"`
}

// DefaultBuffer is the events a subscriber may fall behind by before it is dropped.
const DefaultBuffer = 256

// Broker fans events out to local subscribers, by notebook and table.
// The zero value is not usable: call NewBroker.
type Broker struct {
	buf  int
	mu   sync.Mutex
	subs map[key]map[*Subscription]struct{}
}

type key struct{ notebook, table string }

// NewBroker returns a broker whose subscribers buffer up to buf events
// (DefaultBuffer when buf <= 0).
func NewBroker(buf int) *Broker {
	if buf <= 0 {
		buf = DefaultBuffer
	}
	return &Broker{buf: buf, subs: map[key]map[*Subscription]struct{}{}}
}

// Subscription receives the events of one table until it is closed or dropped.
type Subscription struct {
	b       *Broker
	k       key
	c       chan Event
	dropped chan struct{}
	reason  string // why it was dropped; set before dropped closes
	once    sync.Once
}

// Subscribe starts receiving the events of a table (by notebook and table id).
func (b *Broker) Subscribe(notebook, table string) *Subscription {
	s := &Subscription{b: b, k: key{notebook, table}, c: make(chan Event, b.buf), dropped: make(chan struct{})}
	b.mu.Lock()
	m := b.subs[s.k]
	if m == nil {
		m = map[*Subscription]struct{}{}
		b.subs[s.k] = m
	}
	m[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Events delivers the subscription's events in commit order (per node).
func (s *Subscription) Events() <-chan Event { return s.c }

// Dropped is closed when the broker dropped the subscription: it fell
// behind, or events may have been lost (see Reason). Events already
// buffered may still be read.
func (s *Subscription) Dropped() <-chan struct{} { return s.dropped }

// Reason tells why the subscription was dropped ("" while it was not).
func (s *Subscription) Reason() string {
	select {
	case <-s.dropped:
		return s.reason
	default:
		return ""
	}
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.b.mu.Lock()
	s.b.remove(s)
	s.b.mu.Unlock()
}

// remove unregisters s; b.mu is held.
func (b *Broker) remove(s *Subscription) {
	if m := b.subs[s.k]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(b.subs, s.k)
		}
	}
}

// drop unregisters s and tells its reader why; b.mu is held.
func (b *Broker) drop(s *Subscription, reason string) {
	b.remove(s)
	s.once.Do(func() {
		s.reason = reason
		close(s.dropped)
	})
}

// Publish hands events to the subscribers of their tables. It never
// blocks: a subscriber whose buffer is full is dropped.
func (b *Broker) Publish(evs ...Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range evs {
		for s := range b.subs[key{e.Notebook, e.Table}] {
			select {
			case s.c <- e:
			default:
				b.drop(s, "the client fell behind")
			}
		}
	}
}

// DropAll drops every subscriber, for when events may have been lost
// (the connection that brings other nodes' events was down).
func (b *Broker) DropAll(reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.subs {
		for s := range m {
			b.drop(s, reason)
		}
	}
}

// Subscribers counts the current subscriptions (for tests and metrics).
func (b *Broker) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, m := range b.subs {
		n += len(m)
	}
	return n
}

// Chunks encodes events as JSON arrays of at most max bytes each (a
// PostgreSQL notification's payload must stay under 8000 bytes). An event
// is far smaller than any sensible max, unless it lists the columns of an
// update of hundreds of columns: then it is sent without them.
func Chunks(evs []Event, max int) [][]byte {
	var out [][]byte
	cur := []byte{'['}
	for _, e := range evs {
		b, _ := json.Marshal(e) // ids and a number: cannot fail
		if len(b)+2 > max && e.Cols != nil {
			// Too many columns to list: the event no longer says which,
			// and readers are told of it as of any change they may see.
			e.Cols = nil
			b, _ = json.Marshal(e)
		}
		if len(cur) > 1 && len(cur)+len(b)+2 > max {
			out = append(out, append(cur, ']'))
			cur = []byte{'['}
		}
		if len(cur) > 1 {
			cur = append(cur, ',')
		}
		cur = append(cur, b...)
	}
	if len(cur) > 1 {
		out = append(out, append(cur, ']'))
	}
	return out
}

// Decode reads one payload made by Chunks.
func Decode(payload []byte) ([]Event, error) {
	var evs []Event
	err := json.Unmarshal(payload, &evs)
	return evs, err
}
