/**
 * The devices a user's store knows (the user index's `devices`, kept within the devices quota by
 * register() in commands.ts): the push server's list for a push to every device of a user.
 *
 * A device becomes known at its first pull or commit (quietly: a device over the quota stays unknown
 * and receives no pushes, only what it pulls) and at its session's `pending` look-up (loudly). The
 * registration runs in the user's write order, so a commit either sees the device in its list (and
 * pushes to it) or was applied before the device's pull read (and the pull returns it): no window in
 * which a new device misses a change.
 */
import type { StoreContext } from './context.js';
import { register } from './commands.js';
import { requireName } from './validate.js';

/** The known devices of `userId`. */
export async function knownDevices(ctx: StoreContext, userIdInput: string): Promise<string[]> {
  const userId = requireName('userId', userIdInput, ctx.limits.maxIdBytes);
  return ctx.states.with(userId, async (s) => [...(await s.user()).devices]);
}

/** Registers `deviceId` (quietly) unless the store knows it already: one cached look-up when it does. */
export async function ensureKnown(ctx: StoreContext, userId: string, deviceId: string): Promise<void> {
  const known = await ctx.states.with(userId, async (s) => (await s.user()).devices.includes(deviceId));
  if (!known) await ctx.states.write(userId, (s) => register(ctx, s, deviceId, true));
}
