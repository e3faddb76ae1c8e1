/**
 * The client's MessagePack codec is the wire codec of the whole project, protocol/codec.ts (standard
 * MessagePack only; 64-bit integers intact), written once. It imports nothing but msgpackr, whose package
 * exports pick its browser build when bundled for browsers.
 */
export { encode as encodeFrame, decode as decodeFrame, toSafeInteger } from '../protocol/mod.js';
