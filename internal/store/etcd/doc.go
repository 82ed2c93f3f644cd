// Package etcd is the store.Store on etcd, for several replicas of the bot sharing one state:
// every key lives under a configured prefix, revisions are etcd's (a key's ModRevision; absent
// means CreateRevision 0), Txn is an etcd transaction comparing those revisions, a fenced
// transaction also compares the CreateRevision of the writer's election key, and watches are
// etcd watches. It sits under every stage of the flow, beside the embedded bbolt store.
//
// Layout under the prefix P (which ends with "/"):
//
//	P meta/deployment   the deployment that owns P (written once, by the first replica)
//	P meta/schema       the layout version of the data (an older binary refuses a newer one)
//	P kv/<key>          the bot's keys; leader election keys are kv/leader/<lease>
//
// Open connects, checks that the prefix belongs to this deployment and that its schema is not
// newer than this binary's, and writes the two meta keys only on a prefix that is wholly empty;
// every failure names the setting to fix (store.etcd.endpoints, .username/.password, .tls.*,
// .prefix, .deployment) and nothing is written. Every transaction stays within etcd's
// --max-txn-ops (128) and --max-request-bytes (1.5 MiB), refused before sending with
// store.ErrTooManyOps or store.ErrTooLarge. A cluster without quorum answers store.ErrUnavailable
// once Options.RequestTimeout passes; the caller degrades and retries.
package etcd
