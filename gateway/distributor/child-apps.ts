/**
 * uWebSockets.js's way of serving one port from several threads: the app of the listening thread
 * hands each accepted connection, in turn, to the apps of other threads (added by descriptor). The
 * methods are in the binary of uws-pack 20.0.8 but not in its TypeScript typings.
 */
import type { TemplatedApp } from 'uWebSockets.js';

interface ChildAppMethods {
  /** This app, as a number another thread's app can be given. */
  getDescriptor(): number;
  addChildAppDescriptor(descriptor: number): void;
  removeChildAppDescriptor(descriptor: number): void;
}

export function childApps(app: TemplatedApp): ChildAppMethods {
  const a = app as TemplatedApp & Partial<ChildAppMethods>;
  if (typeof a.getDescriptor !== 'function' || typeof a.addChildAppDescriptor !== 'function' || typeof a.removeChildAppDescriptor !== 'function') {
    throw new TypeError('this uWebSockets.js has no child apps (getDescriptor, addChildAppDescriptor): serve the HTTP API on one thread (threads: 1)');
  }
  return {
    getDescriptor: () => a.getDescriptor!(),
    addChildAppDescriptor: (d) => a.addChildAppDescriptor!(d),
    removeChildAppDescriptor: (d) => a.removeChildAppDescriptor!(d),
  };
}
