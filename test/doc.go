// Package test holds the scenario tests of shared/SCENARIOS.md: each builds a
// network of namespaces (test/netns), runs the real ndproxy binary on the
// gateway, and judges by what the hosts can do, never by ndproxy's opinion.
//
// They need root and skip without it. Run them with
//
//	go test ./test/ -v
//
// which builds ./cmd/ndproxy once, or with NDPROXY_BIN=/path/to/ndproxy to
// test a binary built elsewhere.
package test
