package api

import (
	"net/http"

	"github.com/cofferhq/coffer"
)

// Organizations, members, groups and account deactivation. Path
// parameters {user} take a user id or an e-mail address.

func (s *Server) createOrganization(w http.ResponseWriter, r *http.Request) {
	var in coffer.OrganizationInput
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	o, err := s.svc.Orgs.CreateOrganization(r.Context(), in)
	s.reply(w, r, http.StatusCreated, o, err)
}

func (s *Server) listOrganizations(w http.ResponseWriter, r *http.Request) {
	l, err := s.svc.Orgs.FindOrganizations(r.Context())
	s.reply(w, r, http.StatusOK, map[string]any{"organizations": l}, err)
}

func (s *Server) getOrganization(w http.ResponseWriter, r *http.Request) {
	o, err := s.svc.Orgs.FindOrganization(r.Context(), r.PathValue("org"))
	s.reply(w, r, http.StatusOK, o, err)
}

func (s *Server) updateOrganization(w http.ResponseWriter, r *http.Request) {
	var in coffer.OrganizationUpdate
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	o, err := s.svc.Orgs.UpdateOrganization(r.Context(), r.PathValue("org"), in)
	s.reply(w, r, http.StatusOK, o, err)
}

func (s *Server) deleteOrganization(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.Orgs.DeleteOrganization(r.Context(), r.PathValue("org")))
}

func (s *Server) listOrgMembers(w http.ResponseWriter, r *http.Request) {
	l, err := s.svc.Orgs.ListOrgMembers(r.Context(), r.PathValue("org"))
	s.reply(w, r, http.StatusOK, map[string]any{"members": l}, err)
}

func (s *Server) putOrgMember(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Role string `json:"role"`
	}
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	m, created, err := s.svc.Orgs.SetOrgMember(r.Context(), r.PathValue("org"), r.PathValue("user"), in.Role)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	s.reply(w, r, status, m, err)
}

func (s *Server) deleteOrgMember(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.Orgs.RemoveOrgMember(r.Context(), r.PathValue("org"), r.PathValue("user")))
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	g, err := s.svc.Orgs.CreateGroup(r.Context(), r.PathValue("org"), in.Name)
	s.reply(w, r, http.StatusCreated, g, err)
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) {
	l, err := s.svc.Orgs.FindGroups(r.Context(), r.PathValue("org"))
	s.reply(w, r, http.StatusOK, map[string]any{"groups": l}, err)
}

func (s *Server) updateGroup(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	g, err := s.svc.Orgs.RenameGroup(r.Context(), r.PathValue("org"), r.PathValue("group"), in.Name)
	s.reply(w, r, http.StatusOK, g, err)
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.Orgs.DeleteGroup(r.Context(), r.PathValue("org"), r.PathValue("group")))
}

func (s *Server) putGroupMember(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.Orgs.AddGroupMember(r.Context(), r.PathValue("org"), r.PathValue("group"), r.PathValue("user")))
}

func (s *Server) deleteGroupMember(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.Orgs.RemoveGroupMember(r.Context(), r.PathValue("org"), r.PathValue("group"), r.PathValue("user")))
}

func (s *Server) deactivateUser(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.Accounts.DeactivateUser(r.Context(), r.PathValue("user")))
}

func (s *Server) reactivateUser(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.Accounts.ReactivateUser(r.Context(), r.PathValue("user")))
}
