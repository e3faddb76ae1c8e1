/**
 * The storage partitions of a local cluster's data dir (`syncmesh cluster --store-partitions`), kept in
 * `<data-dir>/store-partitions` so a later start without the flag uses the same count: the NATS users'
 * permissions are written before any node can read the cluster's settings, and they name each
 * partition's streams. A data dir from before partitions existed has one.
 */
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from './errors.js';

const FILE = 'store-partitions';

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The partition count of the data dir's cluster: `asked` for a new one, else what it has (a different `asked` is refused). */
export async function clusterPartitions(dataDir: string, asked: number | undefined): Promise<number> {
  const file = join(dataDir, FILE);
  let stored: number | undefined;
  if (await exists(file)) {
    const text = (await readFile(file, 'utf8')).trim();
    stored = Number(text);
    if (!Number.isInteger(stored) || stored < 1) throw new UsageError(`${file} holds ${JSON.stringify(text)}, not a partition count; write the count this data was created with (1 if unsure) and start again`);
  } else if (await exists(join(dataDir, 'nats'))) {
    stored = 1; // data of a cluster started before partitions existed
  }
  if (stored !== undefined && asked !== undefined && asked !== stored) {
    throw new UsageError(
      `--store-partitions ${asked}: the data in ${dataDir} was created with ${stored} storage partitions, and the count decides which streams hold each user's data. ` +
        `Start without --store-partitions (or with ${stored}), or use another --data-dir for a new cluster`,
    );
  }
  const count = stored ?? asked ?? 1;
  await writeFile(file, `${count}\n`);
  return count;
}
