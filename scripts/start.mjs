// `npm start`: runs the product. Until the control-plane server lands (issue 4) there is no server
// to run, so this says what exists today and how to try it.
console.log(`Switchyard — nothing to serve yet.

Built so far:
  @switchyard/core    the policy document (spec/schema/), its validator, the compiler and the evaluator
  @switchyard/store   the store: LMDB and Redis (standalone or Cluster) adapters, the hash-chained change
                      ledger, queries and the change feed
Try it:
  npm test            runs every test, including the spec vectors, the store conformance suite on LMDB and
                      a real Redis Cluster, and the crash and failover tests
  npm run bench       benchmarks against the peers (see bench/README.md)

The control-plane server (REST API on http://localhost:8080) is the next piece to land.`);
