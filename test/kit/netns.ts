/**
 * Test kit: Linux network namespaces joined to this one by veth pairs (ip netns, iproute2; needs root
 * or CAP_NET_ADMIN + CAP_SYS_ADMIN). Each namespace gets its own /30: the root side is .1 (or .5, ...),
 * the namespace side the next address. Removed by construction, also when a test fails.
 *
 *   const probe = netnsAvailable();                  // undefined, or why namespaces cannot be made here
 *   await using nets = await namespaces(2);
 *   nets.spaces[0].address  // 10.X.Y.2, reachable from this namespace
 */
import { execFileSync } from 'node:child_process';

export interface Namespace {
  readonly name: string;
  /** The namespace's address (its end of the veth pair). */
  readonly address: string;
  /** The root namespace's address on the same link: how processes inside reach services outside. */
  readonly gateway: string;
  /** Prefix for spawning a command inside: `['ip', 'netns', 'exec', name]`. */
  readonly exec: string[];
}

export interface Namespaces {
  readonly spaces: Namespace[];
  [Symbol.asyncDispose](): Promise<void>;
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** undefined when namespaces and veth pairs can be created here; otherwise the reason, from iproute2. */
export function netnsAvailable(): string | undefined {
  const name = `smprobe${process.pid}`;
  try {
    ip('netns', 'add', name);
  } catch (err) {
    return `\`ip netns add\` failed: ${String((err as { stderr?: string }).stderr ?? err).trim()}`;
  }
  try {
    ip('link', 'add', `smp${process.pid % 100000}a`, 'type', 'veth', 'peer', 'name', `smp${process.pid % 100000}b`);
    ip('link', 'del', `smp${process.pid % 100000}a`);
    return undefined;
  } catch (err) {
    return `creating a veth pair failed: ${String((err as { stderr?: string }).stderr ?? err).trim()}`;
  } finally {
    try {
      ip('netns', 'del', name);
    } catch {
      // it was not created
    }
  }
}

/** `count` namespaces, each linked to this one. Names and subnets are unique per process (parallel runs do not collide). */
export async function namespaces(count: number): Promise<Namespaces> {
  const tag = `sm${(process.pid % 100000).toString(36)}${Math.floor(Math.random() * 36 * 36).toString(36)}`;
  // 10.X.Y.0/24 split into /30s: X from the pid, Y random, so concurrent test processes pick different nets.
  const x = 100 + (process.pid % 100);
  const y = Math.floor(Math.random() * 256);
  const spaces: Namespace[] = [];
  const created: string[] = [];
  let disposed = false;
  const dispose = async (): Promise<void> => {
    if (disposed) return;
    disposed = true;
    for (const name of created) {
      try {
        ip('netns', 'del', name); // deleting the namespace deletes its veth end, and so the pair
      } catch {
        // already gone
      }
    }
    for (let i = 0; i < count; i++) {
      try {
        ip('link', 'del', `${tag}${i}h`);
      } catch {
        // removed with its namespace
      }
    }
  };
  try {
    for (let i = 0; i < count; i++) {
      const name = `${tag}n${i}`;
      const host = `${tag}${i}h`; // interface names: at most 15 characters
      const peer = `${tag}${i}p`;
      const base = 4 * i;
      const gateway = `10.${x}.${y}.${base + 1}`;
      const address = `10.${x}.${y}.${base + 2}`;
      ip('netns', 'add', name);
      created.push(name);
      ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
      ip('link', 'set', peer, 'netns', name);
      ip('addr', 'add', `${gateway}/30`, 'dev', host);
      ip('link', 'set', host, 'up');
      ip('netns', 'exec', name, 'ip', 'addr', 'add', `${address}/30`, 'dev', peer);
      ip('netns', 'exec', name, 'ip', 'link', 'set', peer, 'up');
      ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
      spaces.push({ name, address, gateway, exec: ['ip', 'netns', 'exec', name] });
    }
  } catch (err) {
    await dispose();
    throw new Error(`could not set up network namespaces: ${String((err as { stderr?: string }).stderr ?? err).trim()}`, { cause: err });
  }
  return { spaces, [Symbol.asyncDispose]: dispose };
}

/** Namespaces of this kit still present (for a leak check): names starting with `sm` and a digit-or-letter tag. */
export function listNamespaces(): string[] {
  try {
    return ip('netns', 'list')
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n !== '');
  } catch {
    return [];
  }
}
