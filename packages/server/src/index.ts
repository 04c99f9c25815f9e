/** @switchyard/server — the control plane. */
export { buildServer, type ServerOptions } from './app.js';
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
export { createMetrics, type Metrics } from './metrics.js';
export { HttpProblem } from './problems.js';
export { type Running, type ServeOptions, serve } from './serve.js';
