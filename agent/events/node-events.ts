// The agent's events as one piece for `run`: with a `nats` section in the config, the node's
// nats-server (supervised), the JetStream publisher as the event sink, and the metrics sampler;
// without one (a node onboarded before events existed), a sink that only logs.
import type { AgentConfig } from '../../proto/agent-config';
import type { NodeEventInput, NodeEventSink } from '../../proto/node-events';
import type { Logger } from '../logger';
import type { PodmanClient } from '../podman/client';
import { EventPublisher, type PublisherStats } from './event-publisher';
import { MetricsSampler, type LiveContainer } from './metrics-sampler';
import { natsPortOf, streamLimitsOf } from './nats-config';
import { NatsProcess, natsProcessOptions } from './nats-process';

export interface NodeEvents {
  sink: NodeEventSink;
  // Starts sampling the live containers every METRICS_INTERVAL_MS (nothing without nats).
  startMetrics(sources: { podman: PodmanClient; live: () => Record<string, LiveContainer>; restarts: (app: string) => number }): void;
  stats(): PublisherStats | null;
  // Stops the sampler, publishes what it can within the publisher's deadline, stops nats-server.
  stop(): Promise<void>;
}

// Events go to the agent's log only.
export function loggingEventSink(log: Logger): NodeEventSink {
  return {
    emit(event: NodeEventInput) {
      log.info({ event: 'node_event', kind: event.kind, app: event.app, container: event.container, data: event.data }, event.message);
    },
  };
}

export function startNodeEvents(config: AgentConfig, log: Logger): NodeEvents {
  if (!config.nats) {
    log.warn(
      { event: 'events_not_kept' },
      `node ${config.nodeId} has no event stream (its agent config has no nats section): events are only logged here and never reach the control plane; re-run onboarding for this node (podploy node add) to install it`,
    );
    return { sink: loggingEventSink(log), startMetrics: () => undefined, stats: () => null, stop: async () => undefined };
  }
  const nats = config.nats;
  const server = new NatsProcess(natsProcessOptions(config, nats, log));
  const publisher = new EventPublisher({ nodeId: config.nodeId, port: natsPortOf(nats), agentSeed: nats.agentSeed, stateDir: config.stateDir, limits: streamLimitsOf(nats), log });
  // Events wait in the publisher's queue until nats-server answers; it connects after the first
  // start (or its deadline: then it keeps retrying while nats-server is restarted with back-off).
  void server
    .start()
    .then(() => server.waitReady())
    .catch((err: Error) => log.error({ event: 'nats_start_failed', err: err.message }, err.message))
    .finally(() => publisher.start());
  let sampler: MetricsSampler | null = null;
  return {
    sink: publisher,
    startMetrics(sources) {
      sampler ??= new MetricsSampler({ ...sources, publish: (s) => publisher.publishMetrics(s), log });
      sampler.start();
    },
    stats: () => publisher.stats(),
    async stop() {
      await sampler?.stop();
      await publisher.close();
      await server.stop();
    },
  };
}
