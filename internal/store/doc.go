// Package store is the persistence seam under every stage of the flow: rules and their versions,
// rule evaluation state, incidents, silences, proposals, model state and the audit log all live
// here as keys under prefixes.
//
// The Store interface is small on purpose, so that it can be implemented on etcd as well as on the
// embedded bbolt file used by default: values are opaque bytes, every key carries a revision that
// changes on each write, and Txn applies a set of writes only when every compared key is still at
// the revision the caller read (compare-and-set). No bbolt type appears in the interface.
//
// Keys are slash-separated paths such as "proposals/p-7f3a". List returns keys in byte order.
package store
