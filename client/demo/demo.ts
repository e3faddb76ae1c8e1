/**
 * The demo page: two devices ("laptop" and "phone") of one user, each its own SyncClient with its own
 * WebSocket, side by side. Bookmarks live in the `bookmarks` collection; "send tab" is a command to the
 * other device. Tokens come from POST /v1/dev/token, so the cluster must run in dev mode (the default).
 *
 * The client is offline-first: adding, editing or deleting works without a connection (the change
 * shows at once, marked "saving", and the panel counts the writes still to send); each device keeps its
 * data and its queued writes in IndexedDB, so they survive a reload and are sent once it connects.
 * `?persist=0` keeps them in memory instead. `?devices=laptop` shows only that panel (one device per
 * tab or browser: run the other device somewhere else).
 *
 * Every element a test touches has a data-testid: `<part>-<device>` for panel parts (status-laptop,
 * add-title-phone, pending-laptop, ...) and `bookmark` / `tab` / `sent-item` for list items inside a panel.
 */
import { createSyncClient, indexedDbCache, memoryCache, type Cache, type SyncClient } from '../mod.js';

const COLLECTION = 'bookmarks';
const DEVICES = [
  { id: 'laptop', label: 'Laptop', other: 'phone' },
  { id: 'phone', label: 'Phone', other: 'laptop' },
] as const;
type DeviceSpec = (typeof DEVICES)[number];

interface Bookmark {
  readonly title: string;
  readonly url: string;
  readonly createdAt: number;
}

function asBookmark(value: unknown): Bookmark | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Partial<Bookmark>;
  return typeof v.title === 'string' && typeof v.url === 'string'
    ? { title: v.title, url: v.url, createdAt: typeof v.createdAt === 'number' ? v.createdAt : 0 }
    : undefined;
}

function asTab(body: unknown): { url: string; title: string } | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as { url?: unknown; title?: unknown };
  return typeof b.url === 'string' ? { url: b.url, title: typeof b.title === 'string' ? b.title : b.url } : undefined;
}

/** Links only to http(s): a bookmark is data from another device, never script. */
function safeHref(url: string): string {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : '#';
  } catch {
    return '#';
  }
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<Record<string, string>> = {}, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) if (v !== undefined) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

async function devToken(userId: string): Promise<string> {
  const res = await fetch('/v1/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId }),
  });
  if (res.status === 404) throw new Error('dev tokens are turned off: start the cluster in dev mode (npm start, without --no-dev)');
  if (!res.ok) throw new Error(`POST /v1/dev/token answered HTTP ${res.status}`);
  const body = (await res.json()) as { token?: unknown };
  if (typeof body.token !== 'string') throw new Error('POST /v1/dev/token answered without a token');
  return body.token;
}

/**
 * IndexedDB by default: each device's copy and its queued writes survive a reload. (A wiped data dir is
 * fine: the server's storage epoch changes and the client drops the stale copy.) `?persist=0`: memory.
 */
function newCache(userId: string, device: string): Cache {
  const persist = new URLSearchParams(location.search).get('persist') !== '0' && typeof indexedDB !== 'undefined';
  return persist ? indexedDbCache(`syncmesh-demo/${userId}/${device}`) : memoryCache();
}

class DevicePanel {
  readonly #spec: DeviceSpec;
  readonly #root: HTMLElement;
  readonly #parts = new Map<string, HTMLElement>();
  readonly #sent = new Map<string, HTMLElement>();
  #client: SyncClient | undefined;
  #editing: string | undefined;

  constructor(spec: DeviceSpec, template: HTMLTemplateElement, container: HTMLElement) {
    this.#spec = spec;
    const fragment = template.content.cloneNode(true) as DocumentFragment;
    this.#root = fragment.querySelector('section')!;
    this.#root.dataset.testid = `device-${spec.id}`;
    for (const node of this.#root.querySelectorAll<HTMLElement>('[data-part]')) {
      const part = node.dataset.part!;
      node.dataset.testid = `${part}-${spec.id}`;
      this.#parts.set(part, node);
    }
    this.#part('name').textContent = spec.label;
    this.#part('send-tab').textContent = `Send tab to ${DEVICES.find((d) => d.id === spec.other)!.label}`;
    this.#part('add-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.#add();
    });
    this.#part('tab-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const input = this.#part('tab-url') as HTMLInputElement;
      void this.#sendTab(input.value.trim(), input.value.trim()).then((ok) => ok && (input.value = ''));
    });
    this.#part('reconnect').addEventListener('click', () => this.#client?.reconnect());
    container.append(fragment);
  }

  #part(name: string): HTMLElement {
    const node = this.#parts.get(name);
    if (!node) throw new Error(`demo template lacks data-part="${name}"`);
    return node;
  }

  start(userId: string): void {
    const client = createSyncClient({
      distributorUrl: location.origin,
      userId,
      deviceId: this.#spec.id,
      getToken: () => devToken(userId),
      cache: newCache(userId, this.#spec.id),
      collections: [COLLECTION],
    });
    this.#client = client;
    client.on('status', (s) => {
      const status = this.#part('status');
      status.textContent = s.status === 'reconnecting' && s.retryInMs !== undefined ? `reconnecting in ${(s.retryInMs / 1000).toFixed(1)} s` : s.status;
      status.dataset.status = s.status;
      if (s.status === 'connected') {
        this.#part('connection').textContent = s.connectionId ?? '–';
        this.#part('node').textContent = s.node ?? '–';
      }
      const reason = this.#part('reason');
      reason.hidden = s.status === 'connected' || !s.reason;
      reason.textContent = s.reason ?? '';
      this.#part('reconnect').hidden = s.status !== 'offline';
      this.#log(s.status === 'connected' ? `connected to ${s.node ?? '?'}` : `${s.status}${s.reason ? `: ${s.reason}` : ''}`);
    });
    client.on('change', (c) => {
      if (c.collection !== COLLECTION) return;
      this.#renderBookmarks(c.origin === 'remote' ? c.key : undefined);
      if (c.origin === 'remote') this.#log(`${c.deleted ? 'deleted' : 'received'} ${c.key.slice(0, 8)} (rev ${c.rev})`);
    });
    client.on('conflict', (c) => this.#log(`conflict on ${c.key.slice(0, 8)}: kept the server's version`));
    client.on('pending', ({ count }) => this.#showPending(count));
    this.#showPending(client.pendingWrites);
    client.on('command', (cmd) => {
      const tab = asTab(cmd.body);
      if (tab) this.#showTab(tab, cmd.fromDevice);
      cmd.ack();
    });
    client.on('delivered', (d) => {
      const item = this.#sent.get(d.commandId);
      if (!item) return;
      const state = item.querySelector<HTMLElement>('.state')!;
      state.dataset.state = 'delivered';
      state.textContent = 'delivered';
    });
    client.on('error', (err) => this.#log(`error: ${err.message}`));
    this.#renderBookmarks();
  }

  #showPending(count: number): void {
    const pending = this.#part('pending');
    pending.textContent = String(count);
    pending.dataset.count = String(count);
    this.#part('pending-box').dataset.pending = count > 0 ? 'yes' : 'no';
  }

  async stop(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    await client?.close();
    this.#part('bookmarks').replaceChildren();
    this.#part('sent').replaceChildren();
    this.#part('tabs').replaceChildren();
    this.#part('tabs-empty').hidden = false;
    this.#sent.clear();
  }

  async #add(): Promise<void> {
    const title = this.#part('add-title') as HTMLInputElement;
    const url = this.#part('add-url') as HTMLInputElement;
    const key = crypto.randomUUID();
    const value: Bookmark = { title: title.value.trim(), url: url.value.trim(), createdAt: Date.now() };
    if (!value.title || !value.url) return;
    // Offline-first: the bookmark shows at once (marked saving); the form is cleared without waiting for the server.
    this.#write(() => this.#client!.put(COLLECTION, key, value, { ifRev: 0 }), `added "${value.title}"`);
    title.value = '';
    url.value = '';
    title.focus();
  }

  /**
   * Starts one write: it shows at once; the server's answer (maybe much later) goes to the activity log.
   * A write refused for good shows there too (and as an 'error' event) rather than vanish.
   */
  #write(op: () => Promise<unknown>, done: string): void {
    if (!this.#client) return;
    op().then(
      () => this.#log(`${done} (saved)`),
      (err: unknown) => this.#log(`not saved: ${(err as Error).message}`),
    );
  }

  async #sendTab(url: string, title: string): Promise<boolean> {
    const client = this.#client;
    if (!client || !url) return false;
    try {
      const { commandId } = await client.send(this.#spec.other, { url, title });
      const li = el('li', { 'data-testid': 'sent-item', 'data-command': commandId });
      li.append(el('a', { href: safeHref(url), target: '_blank', rel: 'noopener' }, title));
      li.append(el('span', { class: 'state', 'data-state': 'sent' }, 'sent, waiting for the other device'));
      this.#sent.set(commandId, li);
      this.#part('sent').prepend(li);
      this.#log(`sent a tab to ${this.#spec.other}`);
      return true;
    } catch (err) {
      this.#log(`sending the tab failed: ${(err as Error).message}`);
      return false;
    }
  }

  #showTab(tab: { url: string; title: string }, from: string): void {
    const li = el('li', { 'data-testid': 'tab' });
    li.append(el('a', { href: safeHref(tab.url), target: '_blank', rel: 'noopener' }, tab.title));
    li.append(el('span', { class: 'state' }, `from ${from}`));
    this.#part('tabs').prepend(li);
    this.#part('tabs-empty').hidden = true;
    this.#log(`tab received from ${from}`);
  }

  #renderBookmarks(flashKey?: string): void {
    const client = this.#client;
    if (!client) return;
    const rows = client.entries(COLLECTION)
      .map(([key, record]) => ({ key, rev: record.rev, pending: record.pending === true, bookmark: asBookmark(record.value) }))
      .filter((r): r is { key: string; rev: number; pending: boolean; bookmark: Bookmark } => r.bookmark !== undefined)
      .sort((a, b) => a.bookmark.createdAt - b.bookmark.createdAt || a.key.localeCompare(b.key));
    const list = this.#part('bookmarks');
    list.replaceChildren(...rows.map((r) => this.#row(r.key, r.rev, r.pending, r.bookmark, r.key === flashKey)));
    this.#part('empty').hidden = rows.length > 0;
  }

  #row(key: string, rev: number, pending: boolean, b: Bookmark, flash: boolean): HTMLElement {
    const li = el('li', { class: flash ? 'bookmark flash' : 'bookmark', 'data-testid': 'bookmark', 'data-key': key, 'data-rev': String(rev), 'data-pending': pending ? 'yes' : 'no' });
    const text = el('div', { class: 'text' });
    if (this.#editing === key) {
      const input = el('input', { 'data-testid': 'edit-title', value: b.title, maxlength: '200' });
      const save = (): void => {
        this.#editing = undefined;
        const title = input.value.trim();
        if (title && title !== b.title) {
          // ifRev: true is "the version I see", a queued edit of this bookmark included.
          this.#write(() => this.#client!.put(COLLECTION, key, { ...b, title }, { ifRev: true }), `renamed to "${title}"`);
        }
        this.#renderBookmarks();
      };
      input.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter') save();
        if (ev.key === 'Escape') {
          this.#editing = undefined;
          this.#renderBookmarks();
        }
      });
      text.append(input);
      li.append(text, this.#button('Save', 'save', save));
      queueMicrotask(() => input.focus());
      return li;
    }
    text.append(el('span', { class: 'title', 'data-testid': 'bookmark-title' }, b.title));
    if (pending) text.append(el('span', { class: 'saving', 'data-testid': 'bookmark-saving' }, 'saving…'));
    text.append(el('a', { href: safeHref(b.url), target: '_blank', rel: 'noopener', 'data-testid': 'bookmark-url' }, b.url));
    li.append(
      text,
      this.#button('Edit', 'edit', () => {
        this.#editing = key;
        this.#renderBookmarks();
      }),
      this.#button('Send', 'send', () => void this.#sendTab(b.url, b.title)),
      this.#button('Delete', 'delete', () => this.#write(() => this.#client!.delete(COLLECTION, key), `deleted "${b.title}"`), 'danger'),
    );
    return li;
  }

  #button(label: string, testid: string, onClick: () => void, cls = 'secondary'): HTMLButtonElement {
    const button = el('button', { type: 'button', class: cls, 'data-testid': testid }, label);
    button.addEventListener('click', onClick);
    return button;
  }

  #log(line: string): void {
    const log = this.#part('log');
    log.prepend(el('li', {}, `${new Date().toLocaleTimeString()} ${line}`));
    while (log.children.length > 50) log.lastElementChild?.remove();
  }
}

function main(): void {
  const template = document.querySelector<HTMLTemplateElement>('#device-template');
  const container = document.querySelector<HTMLElement>('[data-testid="devices"]');
  const form = document.querySelector<HTMLFormElement>('[data-testid="user-form"]');
  const input = document.querySelector<HTMLInputElement>('[data-testid="user-id"]');
  if (!template || !container || !form || !input) throw new Error('demo page markup is incomplete');
  const fromUrl = new URLSearchParams(location.search).get('user');
  if (fromUrl) input.value = fromUrl;
  const only = new URLSearchParams(location.search).get('devices')?.split(',').map((d) => d.trim()).filter(Boolean);
  const shown = only && only.length > 0 ? DEVICES.filter((d) => only.includes(d.id)) : DEVICES;
  const panels = shown.map((spec) => new DevicePanel(spec, template, container));
  let switching = Promise.resolve();
  const startAll = (): void => {
    const userId = input.value.trim() || 'demo-user';
    switching = switching
      .then(() => Promise.all(panels.map((p) => p.stop())))
      .then(() => panels.forEach((p) => p.start(userId)))
      .catch((err: unknown) => {
        const banner = document.querySelector<HTMLElement>('[data-testid="banner"]')!;
        banner.hidden = false;
        banner.textContent = `Could not start the clients: ${(err as Error).message}`;
      });
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    startAll();
  });
  startAll();
}

main();
