/** @switchyard/server — the control plane, and delivery (also mounted by relays). */
export { buildServer, type ServerOptions } from './app.js';
export { type Authenticator, cachedAuthenticator, credentials } from './delivery/auth.js';
export { type DeliveryHub, EnvironmentScope, type HubListener } from './delivery/hub.js';
export type { DeliveryMetrics } from './delivery/metrics.js';
export { type MountedDelivery, type MountOptions, mountDelivery } from './delivery/mount.js';
export { decodePositions, encodePositions, type Positions, selectedBy } from './delivery/positions.js';
export type { DeliverySource, SourceEvents, SourcePatch } from './delivery/source.js';
export type { Identity } from './delivery/view.js';
export type { ExposureBatch, ForwardedExposure } from './exposures/events.js';
export { type FileSinkOptions, fileSink } from './exposures/file-sink.js';
export type { ExposureOptions } from './exposures/routes.js';
export type { DropListener, DropReason, ExposureSink } from './exposures/sink.js';
export { type WebhookSinkOptions, webhookSink } from './exposures/webhook-sink.js';
export {
  authenticate,
  authorize,
  isSdkRole,
  newToken,
  type Principal,
  ROLES,
  type Role,
  SDK_ROLES,
  type SdkRole,
} from './governance/access.js';
export { type Bootstrapped, bootstrap } from './governance/bootstrap.js';
export { useJsonBodyParser } from './http/json-body.js';
export {
  capConnections,
  DEFAULT_HTTP_LIMITS,
  type HttpLimits,
  httpLimits,
  limitedServerOptions,
} from './http/limits.js';
export { createMetrics, type Metrics } from './metrics.js';
export { HttpProblem, sendProblem } from './problems.js';
export { type Running, type ServeOptions, serve } from './serve.js';
