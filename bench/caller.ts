/**
 * The requesting side of a remote request/reply peer, as a measure drives it.
 */
export interface RemoteCaller {
  /** Shown in the report, e.g. "correlation-id RPC". */
  readonly name: string;
  /** Sends ping `n`, waits for its echo and checks it (throws on a wrong or failed answer). */
  call(n: number): Promise<void>;
  /** Releases connections and subscriptions. */
  close(): Promise<void>;
}
