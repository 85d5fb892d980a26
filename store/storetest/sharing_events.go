package storetest

import (
	"context"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
)

// testSharingEvents: every change of a notebook's members or grants is an
// event naming who made it, the operation and the notebook.
func testSharingEvents(t *testing.T, open Opener) {
	s := open(t)
	ctx, owner := MustUser(t, s)
	_, other := MustUser(t, s)
	nb := MustNotebook(t, ctx, s, "Audited")
	if _, err := s.PutMember(ctx, nb.ID, other.ID, coffer.MemberInput{Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	g, err := s.CreateGrant(ctx, nb.ID, coffer.GrantInput{Principal: coffer.Principal{Type: "members"}, Columns: map[string]string{"*": "read"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGrant(ctx, nb.ID, g.ID); err != nil {
		t.Fatal(err)
	}
	// A refused change records nothing.
	if _, err := s.PutMember(ctx, nb.ID, other.ID, coffer.MemberInput{Role: "nonsense"}); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Fatalf("bad role: %v", err)
	}
	events, err := s.Events(context.Background(), owner.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		if e.Kind == coffer.EventSharingChanged {
			got = append(got, e.Detail)
		}
	}
	want := []string{"DeleteGrant " + nb.ID, "CreateGrant " + nb.ID, "PutMember " + nb.ID} // newest first
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("sharing events %q, want %q", got, want)
	}
}
