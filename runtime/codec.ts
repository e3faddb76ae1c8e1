/**
 * The runtime's MessagePack codec is the project's one wire codec, owned by protocol/ (standard
 * MessagePack only; 64-bit integers intact). Re-exported here so runtime files keep one local import.
 */
export { encode, decode, decodeMany, toSafeInteger } from '../protocol/mod.js';
