import { TimeSlices } from '../../runtime/mod.js';

/**
 * Connection teardown in time slices. uWebSockets.js calls the close handler of every socket that
 * closed in one event-loop turn back to back: when thousands of clients drop at once (a network
 * partition healing into resets, a load balancer restart), doing each one's teardown there (session
 * actor stopped, push interest dropped, quota entry released) kept the loop busy for seconds (15,000
 * closes: a 2.8-s stall), past the runtime's stall watchdog, so the node self-fenced and told every
 * client it still held to resync.
 *
 * The close handler now only detaches the socket; the rest waits here and runs from `setImmediate`
 * in slices of at most `sliceMs` (the runtime's TimeSlices, never inline), so timers (heartbeats,
 * the watchdog) and I/O (pushes to the connections still open) run between slices. One close alone
 * is torn down at the next turn.
 */
export class Teardown<T> extends TimeSlices<T> {
  constructor(finish: (item: T) => void, sliceMs = 5, onError: (err: unknown) => void = () => undefined) {
    super(finish, { sliceMs, inline: false, onError });
  }
}
