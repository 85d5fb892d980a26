package api

import (
	"net/http"

	"github.com/cofferhq/coffer"
)

// Point-in-time restores: POST /api/v1/notebooks/{notebook}/restore with
// "at" instead of "snapshot" (coffer.RestoreInput.At). A time out of the
// shipped write-ahead log's reach, and an instance without point-in-time
// restore, are the client's to fix: 422 with their codes.

func init() {
	statusOf[coffer.EPOINTINTIME] = http.StatusUnprocessableEntity
	statusOf[coffer.EPOINTINTIMEOFF] = http.StatusUnprocessableEntity
}
