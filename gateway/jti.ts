/**
 * Ticket ids (gateway/ticket.ts `jti`): 12 random bytes, base64url.
 */
import { randomBytes } from 'node:crypto';

const JTI_BYTES = 12;
const JTI_POOL_BYTES = JTI_BYTES * 1024;
let jtiPool = randomBytes(JTI_POOL_BYTES);
let jtiOffset = 0;

/**
 * A fresh random ticket id. Drawn from a pool refilled 1024 ids at a time: one randomBytes call per
 * ticket was the single largest cost of a connect request.
 */
export function nextJti(): string {
  if (jtiOffset + JTI_BYTES > JTI_POOL_BYTES) {
    jtiPool = randomBytes(JTI_POOL_BYTES);
    jtiOffset = 0;
  }
  const jti = jtiPool.toString('base64url', jtiOffset, jtiOffset + JTI_BYTES);
  jtiOffset += JTI_BYTES;
  return jti;
}
