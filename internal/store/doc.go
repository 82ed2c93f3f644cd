// Package store is the persistence seam under every stage of the flow: rules and their versions,
// rule evaluation state, incidents, silences, proposals, model state and the audit log all live
// here as keys under prefixes.
//
// The Store interface is small on purpose, so that it is implemented on the embedded bbolt file
// used by default (Bolt), in memory (Memory) and on etcd (package store/etcd, for several
// replicas): values are opaque bytes, every key carries a revision that changes on each write,
// and Txn applies a set of writes only when every compared key is still at the revision the
// caller read (compare-and-set). FencedTxn also requires the writer's election key to exist at
// its creation revision, so a deposed leader's late writes fail with ErrFenced; Fenced wraps a
// Store so that every write carries the current term's fence. ListPage reads in pages, and
// Watch reports puts and deletes in revision order from a given revision (bbolt and memory serve
// watches from the writes of their one process). No bbolt or etcd type appears in the interface;
// the storetest package is the conformance suite every implementation passes.
//
// Bolt commits the transactions that queue while a commit is being written together, in one
// bbolt transaction and one sync to disk (group commit), each still with its own comparisons,
// revision and outcome; etcd batches concurrent requests itself. TxnSeq writes a sequence of
// transactions, each within etcd's limits, in order and each only if the one before it was: a
// comparison with PrevRev is against the revision the one before was written at. Bolt writes a
// sequence in one commit, so a writer that chains its transactions (the audit log, whose every
// transaction moves its head on) need not wait for each commit before it makes the next; on
// etcd and in memory they are written one after another.
//
// etcd limits a transaction to 128 operations and 1.5 MiB: the etcd store always refuses more
// (ErrTooManyOps, ErrTooLarge) before sending; Bolt and Memory do when opened with the limits,
// as the conformance suite does. Remove and Copy batch within them.
//
// Keys are slash-separated paths such as "proposals/p-7f3a". List returns keys in byte order.
package store
