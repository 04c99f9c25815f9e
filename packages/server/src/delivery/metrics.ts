/**
 * Delivery's Prometheus metrics, labelled by region so that every hop (server, relay, relay of a relay)
 * shows its own propagation lag, staleness, upstream state and connected clients.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface DeliveryMetrics {
  region: string;
  /** Commit time → applied at this hop, per environment. */
  lag: Histogram<'region' | 'environment'>;
  connections: Gauge<'region' | 'kind'>;
  patchesSent: Counter<'region'>;
  evaluations: Counter<'region' | 'outcome'>;
  /** Seconds since the upstream was last heard from (0 on the server, which has no upstream). */
  staleness: Gauge<'region'>;
  /** 0 closed (healthy), 1 half-open, 2 open (upstream failing). */
  upstreamState: Gauge<'region'>;
  views: Gauge<'region'>;
  records: Gauge<'region'>;
}

export function createDeliveryMetrics(
  registry: Registry,
  region: string,
  stats: () => { views: number; records: number },
): DeliveryMetrics {
  const registers = [registry];
  const metrics: DeliveryMetrics = {
    region,
    lag: new Histogram({
      name: 'switchyard_propagation_lag_seconds',
      help: 'Time from a change commit to its application at this hop, by region and environment',
      labelNames: ['region', 'environment'],
      buckets: LAG_BUCKETS,
      registers,
    }),
    connections: new Gauge({
      name: 'switchyard_stream_connections',
      help: 'Open delivery streams by region and kind (stream)',
      labelNames: ['region', 'kind'],
      registers,
    }),
    patchesSent: new Counter({
      name: 'switchyard_patches_sent_total',
      help: 'Patch events written to streams',
      labelNames: ['region'],
      registers,
    }),
    evaluations: new Counter({
      name: 'switchyard_ofrep_evaluations_total',
      help: 'OFREP flag evaluations by outcome',
      labelNames: ['region', 'outcome'],
      registers,
    }),
    staleness: new Gauge({
      name: 'switchyard_staleness_seconds',
      help: 'Seconds since the upstream was last heard from (0 when current)',
      labelNames: ['region'],
      registers,
    }),
    upstreamState: new Gauge({
      name: 'switchyard_upstream_circuit_state',
      help: 'Circuit breaker towards the upstream: 0 closed, 1 half-open, 2 open',
      labelNames: ['region'],
      registers,
    }),
    views: new Gauge({
      name: 'switchyard_delivery_views',
      help: 'Namespace × environment views held in memory',
      labelNames: ['region'],
      registers,
      collect() {
        this.set({ region }, stats().views);
      },
    }),
    records: new Gauge({
      name: 'switchyard_delivery_records',
      help: 'Flag and segment records held in delivery views',
      labelNames: ['region'],
      registers,
      collect() {
        this.set({ region }, stats().records);
      },
    }),
  };
  metrics.staleness.set({ region }, 0);
  metrics.upstreamState.set({ region }, 0);
  return metrics;
}
