/** @switchyard/relay — a regional relay: follows an upstream, keeps its data in LMDB, serves delivery. */
export { type CircuitState, type RelayOptions, type RunningRelay, startRelay } from './relay.js';
export { RelayStore } from './relay-store.js';
