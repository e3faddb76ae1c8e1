/**
 * Test kit: one HTTP/1.1 exchange over a bare TCP socket, for requests fetch cannot make or cannot read
 * the answer to (a chunked body the server refuses and closes on while it is still being written).
 * The request should ask the server to close (or the server must close): the answer is what arrived
 * before the close.
 */
import { connect } from 'node:net';

export interface RawAnswer {
  readonly status: number;
  readonly headers: string;
  readonly body: string;
}

export function rawHttp(url: string, request: string, timeoutMs = 10_000): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise<RawAnswer>((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer from ${url} within ${timeoutMs} ms; received: ${text.slice(0, 300)}`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    // A write cut short by the server's close is expected here: the answer came first.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const split = text.indexOf('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      if (split < 0 || status === 0) reject(new Error(`not an HTTP answer: ${JSON.stringify(text.slice(0, 300))}`));
      else resolve({ status, headers: text.slice(0, split), body: text.slice(split + 4) });
    });
    socket.write(request);
  });
}
