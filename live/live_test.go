package live

import (
	"fmt"
	"reflect"
	"testing"
)

func TestBrokerFanOut(t *testing.T) {
	b := NewBroker(2)
	a := b.Subscribe("nb", "tb")
	other := b.Subscribe("nb", "other")
	slow := b.Subscribe("nb", "tb")
	defer a.Close()
	defer other.Close()
	b.Publish(Event{Notebook: "nb", Table: "tb", Record: "r1", Op: OpCreate, Version: 1})
	if e := <-a.Events(); e.Record != "r1" {
		t.Fatalf("got %+v", e)
	}
	select {
	case e := <-other.Events():
		t.Fatalf("another table's subscriber got %+v", e)
	default:
	}
	// slow never reads: two more fill its buffer, the third drops it
	// without blocking the publisher.
	for i := range 3 {
		b.Publish(Event{Notebook: "nb", Table: "tb", Record: fmt.Sprint("r", i+2), Op: OpUpdate})
		<-a.Events()
	}
	select {
	case <-slow.Dropped():
	default:
		t.Fatal("a slow subscriber was not dropped")
	}
	if slow.Reason() == "" || a.Reason() != "" {
		t.Fatalf("reasons: %q %q", slow.Reason(), a.Reason())
	}
	if n := b.Subscribers(); n != 2 {
		t.Fatalf("%d subscribers, want 2", n)
	}
	b.DropAll("gone")
	<-a.Dropped()
	if b.Subscribers() != 0 {
		t.Fatal("DropAll left subscribers")
	}
}

func TestChunks(t *testing.T) {
	var evs []Event
	for i := range 500 {
		evs = append(evs, Event{Notebook: "nb_0123456789abcdefghijklmnop", Table: "tb_0123456789abcdefghijklmnop", Record: fmt.Sprintf("rc_%026d", i), Op: OpUpdate, Version: int64(i)})
	}
	chunks := Chunks(evs, 7900)
	if len(chunks) < 2 {
		t.Fatalf("%d chunks", len(chunks))
	}
	var got []Event
	for _, c := range chunks {
		if len(c) > 7900 {
			t.Fatalf("chunk of %d bytes", len(c))
		}
		part, err := Decode(c)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, part...)
	}
	if len(got) != len(evs) || !reflect.DeepEqual(got[499], evs[499]) {
		t.Fatalf("round trip lost events: %d", len(got))
	}
	if Chunks(nil, 7900) != nil {
		t.Fatal("no events, no chunks")
	}
}
