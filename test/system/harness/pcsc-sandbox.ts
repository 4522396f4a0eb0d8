import { join } from 'node:path';
import { REPO_ROOT, cleanEnv, makeTempDir, runProgram } from './agent-process.js';

export const SANDBOX = join(REPO_ROOT, 'scripts/pcsc-sandbox');
export const PCSCD = '/usr/sbin/pcscd';
/** The vpcd driver's directory (missingTool checks for something it can enter or run). */
export const VPCD_DRIVER = '/usr/lib/pcsc/drivers/serial';
export const IP = '/usr/sbin/ip';

/** scripts/pcsc-sandbox from tests: pcscd + up to two virtual cards in a quickack namespace. */
export class PcscSandbox {
  private constructor(readonly dir: string) {}

  static async start(): Promise<PcscSandbox> {
    const sb = new PcscSandbox(await makeTempDir('oca-pcsc-'));
    await sb.run('start');
    return sb;
  }

  private async run(...args: string[]): Promise<void> {
    const [cmd, ...rest] = args;
    const r = await runProgram(SANDBOX, [cmd!, this.dir, ...rest], { env: cleanEnv({ PCSCLITE_CSOCK_NAME: undefined }), timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`pcsc-sandbox ${args.join(' ')} failed: ${r.stderr}`);
  }

  /** Plugs a virtual card into slot 0 or 1 (its state persists in `name`.json in the sandbox dir). */
  card(slot: 0 | 1, name: string, ...options: string[]): Promise<void> {
    return this.run('card', String(slot), join(this.dir, `${name}.json`), ...options);
  }

  statePath(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  uncard(slot: 0 | 1): Promise<void> {
    return this.run('uncard', String(slot));
  }

  restartPcscd(): Promise<void> {
    return this.run('restart-pcscd');
  }

  stop(): Promise<void> {
    return this.run('stop');
  }
}
