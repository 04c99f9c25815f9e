/** The peers Switchyard is benchmarked against (Switchyard's own fixture is loaded by the harness). */
import * as flagd from './flagd.js';
import * as growthbook from './growthbook.js';
import * as launchdarkly from './launchdarkly.js';
import type { EvalFixture, ScaleFixture } from './types.js';
import * as unleash from './unleash.js';

const peers = [unleash, growthbook, launchdarkly, flagd];

export const peerEvalFixtures: EvalFixture[] = peers.map((peer) => peer.evalFixture);
export const peerScaleFixtures: ScaleFixture[] = peers.map((peer) => peer.scaleFixture);
