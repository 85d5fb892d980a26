// Package catalog is what every service reads of notebooks: the registry
// of notebooks and its cache, each notebook's schema (tables, columns,
// their physical names and sort keys) and its cache, the caller's rights
// on a notebook (members, grants, groups, the access generation and the
// rights cache), the compiled table plans that apply those rights to SQL,
// and the audit events written by several services. It opens a notebook
// for one call (Catalog.OpenNotebook). It is shared infrastructure, not a
// service: services import it, it imports no service.
package catalog
