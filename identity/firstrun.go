package identity

import (
	"context"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store"
)

var errSetupDone = coffer.Errorf(coffer.ESETUPDONE, "this instance is already set up: sign in, or ask its operator for an account")

// ClaimInstance creates the first account of an empty instance, an
// operator, and opens its session. Whether the instance is empty is
// decided in the transaction that inserts: on SQLite writes are
// serialized; on PostgreSQL the users table is locked against inserts
// for the transaction, so of two concurrent claims (two nodes, or a
// `coffer user create` at the same moment) one wins and the other gets
// ESETUPDONE.
func (s *Service) ClaimInstance(ctx context.Context, in coffer.UserInput) (*coffer.Session, error) {
	// Cheap answer first: no password hashing on a claimed instance.
	if n, err := s.CountUsers(ctx); err != nil {
		return nil, err
	} else if n > 0 {
		return nil, errSetupDone
	}
	in.Operator = true
	nu, err := s.prepareUser(ctx, "ClaimInstance", in)
	if err != nil {
		return nil, err
	}
	var sess *coffer.Session
	err = s.Write(ctx, s.Inst, "ClaimInstance", func(tx *store.WriteTx) error {
		if s.Inst.Shared {
			if _, err := tx.ExecContext(ctx, "LOCK TABLE "+s.Inst.Prefix+"users IN SHARE ROW EXCLUSIVE MODE"); err != nil {
				return err
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+s.Inst.Prefix+"users").Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errSetupDone
		}
		if err := s.insertUser(ctx, tx, nu); err != nil {
			return err
		}
		if err := s.Event(ctx, tx, coffer.EventInstanceClaimed, nu.ID, nu.Email, "first account, through the setup link"); err != nil {
			return err
		}
		sess, err = s.openSession(ctx, tx, &account{User: nu.User, hash: nu.hash, passwordChangedAt: nu.now}, "password", false)
		return err
	})
	if err != nil {
		return nil, err
	}
	return sess, nil
}
