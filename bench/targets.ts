/**
 * The TARGETS.md performance targets this harness measures, written down once: what is measured,
 * against which peers, and the ratio each peer sets. A peer without `minRatio` is printed for
 * information only. Informational measures (INFO_MEASURES) have no target and no peer.
 */
import type { InfoId, TargetId } from './args.js';

export type PeerKey = 'raw' | 'request' | 'moleculer' | 'xstate';

export interface PeerSpec {
  readonly key: PeerKey;
  readonly name: string;
  /** Ours divided by this peer must be at least this; absent: informational. */
  readonly minRatio?: number;
}

export interface TargetSpec {
  readonly id: TargetId;
  readonly title: string;
  readonly unit: 'ops/s' | 'events/s';
  /** Operations in flight (remote targets). */
  readonly inFlight?: number;
  readonly showLatency: boolean;
  readonly oursName: string;
  readonly peers: readonly PeerSpec[];
}

export const PEER_NAMES: Record<PeerKey, string> = {
  raw: 'correlation-id RPC',
  request: 'nats.js request()',
  moleculer: 'Moleculer 0.14 (NATS, JSON)',
  xstate: 'bare XState send',
};

export const TARGETS: Record<TargetId, TargetSpec> = {
  P1: {
    id: 'P1',
    title: 'remote ask between actors on two node processes, 64 in flight',
    unit: 'ops/s',
    inFlight: 64,
    showLatency: false,
    oursName: 'ours: runtime ask',
    peers: [
      { key: 'raw', name: PEER_NAMES.raw, minRatio: 0.8 },
      { key: 'moleculer', name: PEER_NAMES.moleculer, minRatio: 1.5 },
      { key: 'request', name: PEER_NAMES.request },
    ],
  },
  P2: {
    id: 'P2',
    title: 'remote ask between actors on two node processes, one in flight',
    unit: 'ops/s',
    inFlight: 1,
    showLatency: true,
    oursName: 'ours: runtime ask',
    peers: [
      { key: 'raw', name: PEER_NAMES.raw, minRatio: 0.9 },
      { key: 'moleculer', name: PEER_NAMES.moleculer },
      { key: 'request', name: PEER_NAMES.request },
    ],
  },
  P3: {
    id: 'P3',
    title: 'local tell throughput to one actor (counts with assign)',
    unit: 'events/s',
    showLatency: false,
    oursName: 'ours: node.tell',
    peers: [{ key: 'xstate', name: PEER_NAMES.xstate, minRatio: 0.8 }],
  },
};

/** A measure printed for information: several operations of ours, each with its latency. */
export interface InfoSpec {
  readonly id: InfoId;
  readonly title: string;
  /** What the figures were taken against, printed under the title. */
  readonly setting: string;
}

export const INFO_MEASURES: Record<InfoId, InfoSpec> = {
  S1: {
    id: 'S1',
    title: 'storage latency, one request in flight (actors/store)',
    setting: '20k records of 200 other users in the stream; CloudStore calls, and asks to the store actor from another node',
  },
};

/** P8 (TARGETS.md): measured against ourselves, without and with other users' data stored. */
export const GROWTH_TARGETS = {
  P8: {
    id: 'P8',
    title: 'storage read cost as the service grows (actors/store)',
    maxRatio: 2,
  },
} as const;
