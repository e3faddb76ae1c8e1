/**
 * Test kit: one WebSocket upgrade attempt, reporting whether the socket opened or the server answered
 * the upgrade with a plain HTTP response (status and body), as a refused ticket must be.
 */
import WebSocket from 'ws';

export type UpgradeOutcome =
  | { readonly opened: true }
  | { readonly opened: false; readonly status: number; readonly body: string }
  | { readonly opened: false; readonly error: string };

/** Opens `url`; an opened socket is closed at once. Resolves within `timeoutMs` or rejects. */
export function tryUpgrade(url: string, timeoutMs = 10_000): Promise<UpgradeOutcome> {
  return new Promise<UpgradeOutcome>((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`upgrade of ${url} neither opened nor was refused within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (outcome: UpgradeOutcome): void => {
      clearTimeout(timer);
      resolve(outcome);
    };
    ws.once('open', () => {
      ws.close();
      done({ opened: true });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => done({ opened: false, status: res.statusCode ?? 0, body }));
      res.on('error', (err: Error) => done({ opened: false, error: err.message }));
    });
    ws.once('error', (err) => done({ opened: false, error: err.message }));
  });
}
