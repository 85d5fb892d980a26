// Package notebooks is the notebooks service: notebooks, tables and
// columns, views, records, lists with their read budget, and live events
// of record writes; and what needs its access plans and write paths: every
// write records its action (package history), and reading history, undo,
// redo and the trash, time travel and revert, access records, watch
// rules, and the files of file cells with their links (files.go, on a
// blob store) are served here. It implements coffer.NotebookService,
// TableService, RecordService, ViewService, HistoryService, UndoService,
// TimeTravelService, FileService and the access-record services on the
// storage core,
// through the shared catalogue (schemas, rights, plans); it imports no
// other service.
package notebooks
