// Package all wires the services into one value: Store embeds the
// identity, notebooks and sharing services, built on one storage core and
// one catalogue, so that the server, the command line and the tests get
// every coffer service from New(backend).
package all
