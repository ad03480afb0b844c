// Every default of the agent's deploy, named in one place.
//
// The health and deploy defaults are COPIES of HEALTH_DEFAULTS / DEPLOY_DEFAULTS in
// src-main/api/app-spec.ts: the agent ships as its own bundle and must not import src-main.
// constants.spec.ts fails when the two drift apart; the lasting fix is to move them into
// proto/ (the code both sides share).
import type { SlotName } from '../ingress/slots';

// Step 3: how v2's health check runs unless the release says otherwise.
export const HEALTH_PATH = '/health';
export const HEALTH_INTERVAL_MS = 1_000;
export const HEALTH_TIMEOUT_MS = 5_000;
export const HEALTH_HEALTHY_THRESHOLD = 1;
// Used by liveness probes (Lazarus), not by the deploy: a deploy waits until the deadline.
export const HEALTH_UNHEALTHY_THRESHOLD = 3;
export const HEALTH_START_PERIOD_MS = 0;
export const HEALTH_DEADLINE_MS = 60_000;
// An HTTP check passes on these statuses (as Docker and Kubernetes do: 2xx and 3xx).
export const HEALTH_PASS_STATUS_MIN = 200;
export const HEALTH_PASS_STATUS_MAX = 399;

// Steps 2, 5 and 6.
export const CONTAINER_PORT = 8080;
export const STOP_GRACE_MS = 10_000;
export const DRAIN_MS = 30_000;

// The slot a first deploy (no v1) goes into.
export const FIRST_DEPLOY_SLOT: SlotName = 'a';
// Where each app's live slot and release are kept, inside the agent's state dir.
export const APP_STATE_FILE = 'apps-live.json';
