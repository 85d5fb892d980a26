// Package sharing is the sharing service: a notebook's members and grants,
// their audit events, and the explanation of a caller's access. It
// implements coffer.SharingService on the storage core, through the shared
// catalogue; it imports no other service.
package sharing
