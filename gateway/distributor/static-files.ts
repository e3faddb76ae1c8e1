/**
 * Serves the files of one directory (the browser client) at `/`.
 *
 * `/` and any path ending in `/` serve that directory's index.html. A path is resolved inside the
 * root only: percent-decoding happens once, and a path with `..` segments, a NUL, a backslash or one
 * that resolves outside the root is not found. Dotfiles are not served. Only regular files are read.
 *
 * The browser client bundle (and its source map and types) is served with CORS headers, so an
 * application on another origin can `import` it from the gateway (a module script is fetched in CORS
 * mode). Nothing else is: the demo page and any other file stay same-origin.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, extname, join, resolve, sep } from 'node:path';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.woff2': 'font/woff2',
};

/** Larger files are not served from here (this is for a small client bundle, not a file server). */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

export interface StaticFile {
  readonly body: Buffer;
  readonly contentType: string;
  /** Extra response headers for this file (CORS for the client bundle). */
  readonly headers: Readonly<Record<string, string>>;
}

/** Files any origin may load: the browser client bundle, its source map and its types. */
export const CROSS_ORIGIN_FILES: ReadonlySet<string> = new Set(['syncmesh-client.js', 'syncmesh-client.js.map', 'syncmesh-client.d.ts']);

const CROSS_ORIGIN_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Access-Control-Allow-Origin': '*',
  // Lets pages that set Cross-Origin-Embedder-Policy load it too.
  'Cross-Origin-Resource-Policy': 'cross-origin',
});
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** The content type for a file name (application/octet-stream when unknown). */
export function contentTypeOf(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/** Resolves URL paths to files under one root directory. */
export class StaticFiles {
  readonly #root: string;
  #realRoot: string | undefined;

  constructor(root: string) {
    this.#root = resolve(root);
  }

  /**
   * The file a URL path names, or undefined when there is none (or it is not allowed).
   * `urlPath` is the path part of the request URL, still percent-encoded.
   */
  async lookup(urlPath: string): Promise<StaticFile | undefined> {
    const relative = this.#relativePath(urlPath);
    if (relative === undefined) return undefined;
    this.#realRoot ??= await realpath(this.#root).catch(() => this.#root);
    const candidate = resolve(this.#realRoot, relative);
    if (!candidate.startsWith(this.#realRoot + sep)) return undefined;
    try {
      // realpath: a symlink inside the root must not lead outside it.
      const real = await realpath(candidate);
      if (!real.startsWith(this.#realRoot + sep)) return undefined;
      const info = await stat(real);
      if (!info.isFile() || info.size > MAX_FILE_BYTES) return undefined;
      const crossOrigin = relative === basename(relative) && CROSS_ORIGIN_FILES.has(relative);
      return { body: await readFile(real), contentType: contentTypeOf(real), headers: crossOrigin ? CROSS_ORIGIN_HEADERS : NO_HEADERS };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  #relativePath(urlPath: string): string | undefined {
    let decoded: string;
    try {
      decoded = decodeURIComponent(urlPath);
    } catch {
      return undefined;
    }
    if (!decoded.startsWith('/') || decoded.includes('\0') || decoded.includes('\\')) return undefined;
    if (decoded.endsWith('/')) decoded += 'index.html';
    const segments = decoded.split('/').slice(1);
    for (const segment of segments) {
      if (segment === '' || segment === '.' || segment === '..' || segment.startsWith('.')) return undefined;
    }
    return join(...segments);
  }
}

function isNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR' || code === 'ENAMETOOLONG';
}
