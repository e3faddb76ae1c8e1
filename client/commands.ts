/**
 * Commands this device receives: emitted with an ack() helper, acks sent now or on the next
 * connection, and redeliveries of commands already acked answered quietly.
 *
 * The server keeps a command until it is acked, so an ack lost with a connection means the command
 * comes again: the ids this client acked are remembered (the last 1 024) to ack such a redelivery
 * without showing it to the application twice. A command never acked is shown again when redelivered:
 * the application may not have handled it.
 */
import { ProtocolError } from './errors.js';
import type { Frame } from './transport.js';
import type { CommandEvent } from './types.js';

const ACKED_MEMORY = 1_024;

/** Sends one ack on the current connection; false when there is none. */
export type SendAck = (commandId: string) => boolean;

export class CommandInbox {
  readonly #emit: (event: CommandEvent) => void;
  readonly #autoAck: boolean;
  readonly #pendingAcks = new Set<string>();
  readonly #acked = new Set<string>();
  #send: SendAck | undefined;

  constructor(emit: (event: CommandEvent) => void, autoAck: boolean) {
    this.#emit = emit;
    this.#autoAck = autoAck;
  }

  /** A connection is up: send the acks made while there was none. */
  online(send: SendAck): void {
    this.#send = send;
    for (const commandId of this.#pendingAcks) {
      if (!send(commandId)) return;
      this.#pendingAcks.delete(commandId);
    }
  }

  offline(): void {
    this.#send = undefined;
  }

  /** Handles a `command` frame; returns a ProtocolError when the frame is malformed. */
  receive(frame: Frame): ProtocolError | undefined {
    const { commandId, fromDevice, body } = frame;
    if (typeof commandId !== 'string' || typeof fromDevice !== 'string') {
      return new ProtocolError('the server sent a command without commandId and fromDevice');
    }
    if (this.#acked.has(commandId)) {
      this.#transmit(commandId);
      return undefined;
    }
    let acked = false;
    const ack = (): void => {
      if (acked) return;
      acked = true;
      this.ack(commandId);
    };
    this.#emit({ commandId, fromDevice, body, ack });
    if (this.#autoAck) ack();
    return undefined;
  }

  ack(commandId: string): void {
    this.#acked.add(commandId);
    if (this.#acked.size > ACKED_MEMORY) this.#acked.delete(this.#acked.values().next().value as string);
    this.#transmit(commandId);
  }

  #transmit(commandId: string): void {
    // Not connected: sent on the next connection. Until then the server keeps the command and may redeliver it.
    if (!this.#send?.(commandId)) this.#pendingAcks.add(commandId);
  }
}

/**
 * `delivered` notices this client already reported. The server keeps a notice until it has sent it to
 * the sender (PROTOCOL.md 3.3), so one pushed live comes again after the next connect: reported once.
 */
export class DeliveredFilter {
  readonly #seen = new Set<string>();

  /** True the first time `commandId` is seen (among the last 1 024). */
  first(commandId: string): boolean {
    if (this.#seen.has(commandId)) return false;
    this.#seen.add(commandId);
    if (this.#seen.size > ACKED_MEMORY) this.#seen.delete(this.#seen.values().next().value as string);
    return true;
  }
}
