package api

import (
	"net/http"

	"github.com/cofferhq/coffer"
)

func (s *Server) createWatch(w http.ResponseWriter, r *http.Request) {
	var in coffer.WatchInput
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	wt, err := s.svc.Watches.CreateWatch(r.Context(), r.PathValue("notebook"), in)
	s.reply(w, r, http.StatusCreated, wt, err)
}

func (s *Server) listWatches(w http.ResponseWriter, r *http.Request) {
	ws, err := s.svc.Watches.FindWatches(r.Context(), r.PathValue("notebook"))
	s.reply(w, r, http.StatusOK, map[string]any{"watches": ws}, err)
}

func (s *Server) getWatch(w http.ResponseWriter, r *http.Request) {
	wt, err := s.svc.Watches.FindWatch(r.Context(), r.PathValue("notebook"), r.PathValue("watch"))
	s.reply(w, r, http.StatusOK, wt, err)
}

func (s *Server) updateWatch(w http.ResponseWriter, r *http.Request) {
	var in coffer.WatchInput
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	wt, err := s.svc.Watches.UpdateWatch(r.Context(), r.PathValue("notebook"), r.PathValue("watch"), in)
	s.reply(w, r, http.StatusOK, wt, err)
}

func (s *Server) deleteWatch(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.Watches.DeleteWatch(r.Context(), r.PathValue("notebook"), r.PathValue("watch")))
}

func (s *Server) listWatchDeliveries(w http.ResponseWriter, r *http.Request) {
	ds, err := s.svc.Watches.FindWatchDeliveries(r.Context(), r.PathValue("notebook"), r.PathValue("watch"))
	s.reply(w, r, http.StatusOK, map[string]any{"deliveries": ds}, err)
}

func (s *Server) testWatch(w http.ResponseWriter, r *http.Request) {
	ds, err := s.svc.Watches.TestWatch(r.Context(), r.PathValue("notebook"), r.PathValue("watch"))
	s.reply(w, r, http.StatusAccepted, map[string]any{"deliveries": ds}, err)
}
