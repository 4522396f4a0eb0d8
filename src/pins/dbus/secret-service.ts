import { DBusConnection, DBusError, sessionBusPath } from './connection.js';
import { variant, type Variant } from './wire.js';

/**
 * A client of the freedesktop Secret Service API (org.freedesktop.secrets; gnome-keyring,
 * KeePassXC, KWallet 6) over our own D-Bus connection, with the calls a PIN store needs.
 * Secrets travel as bytes (never as JS strings), in a "plain" session: the session bus is a
 * unix socket of this user, and libsecret's default between local processes is no different in
 * what another process of the same user could see.
 */
const BUS = 'org.freedesktop.secrets';
const SERVICE_PATH = '/org/freedesktop/secrets';
const SERVICE = 'org.freedesktop.Secret.Service';
const COLLECTION = 'org.freedesktop.Secret.Collection';
const ITEM = 'org.freedesktop.Secret.Item';
const PROMPT = 'org.freedesktop.Secret.Prompt';
const PROPERTIES = 'org.freedesktop.DBus.Properties';
const NO_OBJECT = '/';

export interface SecretItemInfo {
  readonly path: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly label: string;
  /** Seconds since the epoch (0 when the service does not say). */
  readonly modified: number;
}

export class SecretServiceClient {
  private session = '';
  /** How long a prompt (unlock dialog) may stay open before we give up. */
  promptTimeoutMs = 60_000;

  private constructor(private readonly bus: DBusConnection) {}

  /**
   * Connects to the session bus named by `env` and opens a Secret Service session. `signal`
   * aborts it at any point (the connection is closed; a bus auto-starting a service that never
   * comes would otherwise keep the socket open).
   */
  static async open(env: NodeJS.ProcessEnv, timeoutMs: number, signal?: AbortSignal): Promise<SecretServiceClient> {
    const path = sessionBusPath(env);
    if (path === undefined) throw new DBusError('no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set and $XDG_RUNTIME_DIR/bus does not exist');
    const bus = await DBusConnection.open(path, timeoutMs);
    if (signal?.aborted === true) {
      bus.close();
      throw new DBusError('aborted');
    }
    signal?.addEventListener('abort', () => bus.close(), { once: true });
    const client = new SecretServiceClient(bus);
    try {
      const [, session] = await client.service('OpenSession', 'sv', ['plain', variant('s', '')]);
      client.session = String(session);
      return client;
    } catch (err) {
      bus.close();
      throw err;
    }
  }

  close(): void {
    this.bus.close();
  }

  /** Service.SearchItems: every collection, unlocked and locked. */
  async search(attributes: Record<string, string>): Promise<{ unlocked: string[]; locked: string[] }> {
    const [unlocked, locked] = await this.service('SearchItems', 'a{ss}', [Object.entries(attributes)]);
    return { unlocked: unlocked as string[], locked: locked as string[] };
  }

  /** Collection.SearchItems. */
  async searchCollection(collection: string, attributes: Record<string, string>): Promise<string[]> {
    const [items] = await this.bus.call({ destination: BUS, path: collection, interface: COLLECTION, member: 'SearchItems', signature: 'a{ss}', body: [Object.entries(attributes)] });
    return items as string[];
  }

  /** The collection behind the "default" alias; DBusError when there is none. */
  async defaultCollection(): Promise<string> {
    const [path] = await this.service('ReadAlias', 's', ['default']);
    if (path === NO_OBJECT) throw new DBusError('the Secret Service has no default collection');
    return String(path);
  }

  async isLocked(object: string, iface: typeof COLLECTION | typeof ITEM): Promise<boolean> {
    return (await this.property(object, iface, 'Locked')) === true;
  }

  /** Unlocks the objects, through the service's prompt (a desktop dialog) when it asks for one. */
  async unlock(objects: readonly string[]): Promise<void> {
    if (objects.length === 0) return;
    const [, prompt] = await this.service('Unlock', 'ao', [objects]);
    const result = await this.runPrompt(String(prompt));
    if (result === 'dismissed') throw new DBusError('the keychain stayed locked: the unlock prompt was dismissed');
  }

  /** The item's attributes, label and modification time, in one round trip (Properties.GetAll). */
  async info(item: string): Promise<SecretItemInfo> {
    const [all] = await this.bus.call({ destination: BUS, path: item, interface: PROPERTIES, member: 'GetAll', signature: 's', body: [ITEM] });
    const props = new Map((all as Array<[string, Variant]>).map(([name, v]) => [name, v.value]));
    const attrs = props.get('Attributes');
    // Attributes decide which items are ours (and get deleted): no guessing when they are missing.
    if (!Array.isArray(attrs)) throw new DBusError(`the Secret Service did not give the attributes of ${item}`);
    const label = props.get('Label');
    const modified = props.get('Modified');
    return {
      path: item,
      attributes: Object.fromEntries(attrs as Array<[string, string]>),
      label: typeof label === 'string' ? label : '',
      modified: typeof modified === 'bigint' ? Number(modified) : 0,
    };
  }

  /** The item's secret (a copy the caller owns and wipes). */
  async getSecret(item: string): Promise<Uint8Array> {
    const [secret] = await this.bus.call({ destination: BUS, path: item, interface: ITEM, member: 'GetSecret', signature: 'o', body: [this.session] });
    const [, params, value] = secret as [string, Uint8Array, Uint8Array, string];
    params.fill(0);
    return value;
  }

  /**
   * Collection.CreateItem with replace = true (an item with exactly these attributes is
   * overwritten). `secret` is not kept. Resolves with the item's path.
   */
  async createItem(collection: string, label: string, attributes: Record<string, string>, secret: Uint8Array): Promise<string> {
    const properties: Array<[string, Variant]> = [
      [`${ITEM}.Label`, variant('s', label)],
      [`${ITEM}.Attributes`, variant('a{ss}', Object.entries(attributes))],
    ];
    const [item, prompt] = await this.bus.call({
      destination: BUS,
      path: collection,
      interface: COLLECTION,
      member: 'CreateItem',
      signature: 'a{sv}(oayays)b',
      body: [properties, [this.session, new Uint8Array(0), secret, 'text/plain'], true],
    });
    if (item !== NO_OBJECT) return String(item);
    const result = await this.runPrompt(String(prompt));
    if (result === 'dismissed' || result.signature !== 'o') throw new DBusError('the keychain did not store the item: the prompt was dismissed');
    return String(result.value);
  }

  async deleteItem(item: string): Promise<void> {
    const [prompt] = await this.bus.call({ destination: BUS, path: item, interface: ITEM, member: 'Delete' });
    const result = await this.runPrompt(String(prompt));
    if (result === 'dismissed') throw new DBusError('the keychain did not delete the item: the prompt was dismissed');
  }

  private service(member: string, signature: string, body: unknown[]): Promise<unknown[]> {
    return this.bus.call({ destination: BUS, path: SERVICE_PATH, interface: SERVICE, member, signature, body });
  }

  private async property(object: string, iface: string, name: string): Promise<unknown> {
    const [v] = await this.bus.call({ destination: BUS, path: object, interface: PROPERTIES, member: 'Get', signature: 'ss', body: [iface, name] });
    return (v as Variant).value;
  }

  /**
   * Runs a Secret Service prompt (Prompt.Prompt, then its Completed signal). "/" means no
   * prompt was needed. Resolves with the result variant, or 'dismissed'.
   */
  private async runPrompt(prompt: string): Promise<Variant | 'dismissed'> {
    if (prompt === NO_OBJECT) return variant('s', '');
    const rule = `type='signal',interface='${PROMPT}',member='Completed',path='${prompt}'`;
    await this.bus.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch', signature: 's', body: [rule] });
    const completed = new Promise<Variant | 'dismissed'>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.bus.onSignal = undefined;
        reject(new DBusError(`the keychain prompt was not answered within ${this.promptTimeoutMs} ms`));
      }, this.promptTimeoutMs);
      timer.unref();
      this.bus.onSignal = (m) => {
        if (m.path !== prompt || m.member !== 'Completed') return;
        clearTimeout(timer);
        this.bus.onSignal = undefined;
        const [dismissed, result] = m.body as [boolean, Variant];
        resolve(dismissed ? 'dismissed' : result);
      };
    });
    await this.bus.call({ destination: BUS, path: prompt, interface: PROMPT, member: 'Prompt', signature: 's', body: [''] });
    return completed;
  }
}
