// This file keeps the Go tool out of the front end's source and its
// node_modules: they are not Go packages of the coffer module.
module github.com/cofferhq/coffer/ui/web

go 1.26
