/**
 * Test kit: raw-protocol devices (device.ts) that land on a chosen socket node and reconnect through
 * the distributor the way a client does: after `drain`, or after a refused upgrade, ask again.
 */
import { Device, type Frame } from './device.js';
import { until } from './wait.js';

/** The node a device's welcome named. */
export function welcomeNode(d: Device): string {
  const w = d.frames.find((f: Frame) => f.t === 'welcome');
  return typeof w?.['node'] === 'string' ? w['node'] : '';
}

/** Opens a device through the distributor, asking again while upgrades are refused (a node draining or gone). */
export async function openDevice(url: string, userId: string, deviceId: string, timeoutMs = 20_000): Promise<Device> {
  let device: Device | undefined;
  let last = '';
  await waitAsync(
    async () => {
      try {
        device = await Device.open(url, userId, deviceId);
        return true;
      } catch (err) {
        last = (err as Error).message;
        return false;
      }
    },
    `${userId}/${deviceId} to connect`,
    timeoutMs,
    () => last,
  );
  return device!;
}

/** A raw device and the id it was opened with. */
export interface Placed {
  readonly deviceId: string;
  readonly device: Device;
}

/** Opens devices `prefix0`, `prefix1`, ... of `userId` until `count` of them landed on `node`; closes the others. */
export async function devicesOn(url: string, userId: string, node: string, count: number, prefix = 'd'): Promise<Placed[]> {
  const on: Placed[] = [];
  for (let i = 0; on.length < count; i++) {
    if (i >= count * 40) throw new Error(`only ${on.length} of ${count} devices of ${userId} landed on ${node} after ${i} tries`);
    const d = await openDevice(url, userId, `${prefix}${i}`);
    if (welcomeNode(d) === node) on.push({ deviceId: `${prefix}${i}`, device: d });
    else {
      d.close();
      await d.closedWith().catch(() => undefined);
    }
  }
  return on;
}

/** `until` for an async condition. */
export async function waitAsync(cond: () => Promise<boolean>, what: string, timeoutMs = 20_000, seen?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen ? `; seen: ${seen()}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export { until };
