/**
 * Source ports of the load processes' connections, named by the harness instead of searched for by
 * the kernel.
 *
 * Each load process sends from its own 127.0.0.x address, so its sockets are bound to that address
 * before they connect. Bound with port 0, Linux searches the address's ports for a free one, and that
 * search grows with the connections the address already holds. Measured on this VM (kernel 6.18,
 * 5,000 connects 64 at a time to one listener, CPU per connect): 108 us with none held, 529 us with
 * 5,000 held, 1,871 us with 10,000 held; with the port named, 79-111 us whatever is held. In a
 * reconnect storm (P7) each load process holds up to 5,000 connections, and the load processes share
 * the machine's two cores with the servers being measured: that search was CPU taken from them. (A
 * device connects from its own address, with no such search; `IP_BIND_ADDRESS_NO_PORT` would avoid
 * it too, but Node sets no socket options of that kind.)
 *
 * Ports are handed out in turn over [first, last], skipping those this process holds, so a port comes
 * back only after every other one has been used. A port some other socket holds (a TIME_WAIT left by an
 * earlier close, a listener on the wildcard address) fails the bind with EADDRINUSE: the caller releases
 * it and takes the next one (see {@link isPortTaken}).
 */

/** Ports above the well-known range and below the kernel's usual ephemeral range's end. */
const FIRST_PORT = 10_000;
const LAST_PORT = 65_535;

export class LocalPorts {
  readonly #held = new Set<number>();
  #next: number;

  constructor(
    readonly address: string,
    private readonly first = FIRST_PORT,
    private readonly last = LAST_PORT,
  ) {
    if (!(Number.isInteger(first) && Number.isInteger(last) && first >= 1 && last <= 65_535 && first <= last)) {
      throw new RangeError(`a local port range is [first, last] within 1-65535, got [${first}, ${last}]`);
    }
    this.#next = first;
  }

  /** The next port this process does not hold; throws when it holds every port of the range. */
  take(): number {
    const span = this.last - this.first + 1;
    for (let i = 0; i < span; i++) {
      const port = this.#next;
      this.#next = port === this.last ? this.first : port + 1;
      if (!this.#held.has(port)) {
        this.#held.add(port);
        return port;
      }
    }
    throw new Error(`every source port of ${this.address} in ${this.first}-${this.last} is in use by this process: open fewer connections per load process`);
  }

  /** Gives `port` back (its socket closed, or its bind failed). */
  release(port: number): void {
    this.#held.delete(port);
  }

  /** Ports held now. */
  get held(): number {
    return this.#held.size;
  }
}

const byAddress = new Map<string, LocalPorts>();

/** The one allocator of this process for `address` (populations of one process share its address). */
export function localPortsFor(address: string): LocalPorts {
  let ports = byAddress.get(address);
  if (ports === undefined) byAddress.set(address, (ports = new LocalPorts(address)));
  return ports;
}

/** True for a connect that failed because its named source port is taken: try the next one. */
export function isPortTaken(err: unknown): boolean {
  const e = err as { code?: unknown; syscall?: unknown };
  return e?.code === 'EADDRINUSE' || (e?.code === 'EADDRNOTAVAIL' && e?.syscall === 'connect');
}
