// Package notebooks is the notebooks service: notebooks, tables and
// columns, views, records, lists with their read budget, and live events
// of record writes. It implements coffer.NotebookService, TableService,
// RecordService and ViewService on the storage core, through the shared
// catalogue (schemas, rights, plans); it imports no other service.
package notebooks
