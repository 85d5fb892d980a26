package postgres

// TestDialect is the dialect, for tests that need no database.
var TestDialect = dialect{fold: `"default"`}
