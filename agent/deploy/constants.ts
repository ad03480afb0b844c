// Every default of the agent's deploy, named in one place. The health and deploy numbers come
// from proto/deploy-defaults.ts, which the control plane's AppSpec reads too.
import { DEPLOY_DEFAULTS, HEALTH_DEFAULTS } from '../../proto/deploy-defaults';
import type { SlotName } from '../ingress/slots';

// Step 3: how v2's health check runs unless the release says otherwise.
export const HEALTH_PATH = HEALTH_DEFAULTS.path;
export const HEALTH_INTERVAL_MS = HEALTH_DEFAULTS.intervalMs;
export const HEALTH_TIMEOUT_MS = HEALTH_DEFAULTS.timeoutMs;
export const HEALTH_HEALTHY_THRESHOLD = HEALTH_DEFAULTS.healthyThreshold;
// Used by liveness probes (Lazarus), not by the deploy: a deploy waits until the deadline.
export const HEALTH_UNHEALTHY_THRESHOLD = HEALTH_DEFAULTS.unhealthyThreshold;
export const HEALTH_START_PERIOD_MS = HEALTH_DEFAULTS.startPeriodMs;
export const HEALTH_DEADLINE_MS = HEALTH_DEFAULTS.deadlineMs;
// An HTTP check passes on these statuses (as Docker and Kubernetes do: 2xx and 3xx).
export const HEALTH_PASS_STATUS_MIN = 200;
export const HEALTH_PASS_STATUS_MAX = 399;
// While the app does not answer at all (still booting), checks repeat this often instead of at
// the interval, so a deploy does not wait a whole interval past the app's boot.
export const HEALTH_BOOT_RETRY_MS = 50;

// Steps 2, 5 and 6.
export const CONTAINER_PORT = DEPLOY_DEFAULTS.port;
export const STOP_GRACE_MS = DEPLOY_DEFAULTS.stopGraceMs;
export const DRAIN_MS = DEPLOY_DEFAULTS.drainMs;
export const KEEP_RELEASES = DEPLOY_DEFAULTS.keepReleases;

// The slot a first deploy (no v1) goes into.
export const FIRST_DEPLOY_SLOT: SlotName = 'a';
// Where each app's live slot and release are kept, inside the agent's state dir.
export const APP_STATE_FILE = 'apps-live.json';
