/**
 * The kernel's count of connections dropped because a listening socket's accept queue was full
 * (Linux `/proc/net/netstat`, TcpExt `ListenOverflows`), machine-wide. A dropped handshake costs its
 * client a SYN retransmission: one second, then two, then four.
 */
import { readFile } from 'node:fs/promises';

/** The count now, or undefined where the kernel does not say (not Linux). */
export async function listenOverflows(): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile('/proc/net/netstat', 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n').filter((l) => l.startsWith('TcpExt:'));
  if (lines.length < 2) return undefined;
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/);
  const at = names.indexOf('ListenOverflows');
  if (at < 0) return undefined;
  const n = Number(values[at]);
  return Number.isSafeInteger(n) ? n : undefined;
}
