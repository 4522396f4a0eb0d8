import type { DoctorCheck, Finding } from './check.js';

/** An account no card has: reading it asks the keychain a question without touching any PIN. */
const PROBE_ACCOUNT = 'doctor-probe';

/** The OS keychain where `ssh-add -s` stores card PINs: reachable and answering. */
export const keychainCheck: DoctorCheck = {
  id: 'keychain',
  title: 'keychain',
  async run(ctx): Promise<Finding> {
    let OsKeychain;
    try {
      ({ OsKeychain } = await import('../../pins/keyring-pin-store.js'));
    } catch (err) {
      return { verdict: 'fail', summary: `the keychain module does not load: ${(err as Error).message}`, fix: ['reinstall openpgp-card-agent (npm install -g openpgp-card-agent)'] };
    }
    // The same keychain the agent uses (the Secret Service on Linux, reached through ctx.env's bus).
    try {
      await new OsKeychain(ctx.env, { timeoutMs: 5000, platform: ctx.platform }).get(PROBE_ACCOUNT);
      return { verdict: 'ok', summary: 'the OS keychain answers: PINs given with ssh-add -s are stored there' };
    } catch (err) {
      return {
        verdict: 'warn',
        summary: 'the OS keychain is not reachable: PINs cannot be stored, only kept for a while with ssh-add -s IDENT -t SECONDS',
        detail: [(err as Error).message],
        fix:
          ctx.platform === 'linux'
            ? [
                'run a Secret Service in your desktop session: GNOME Keyring (gnome-keyring-daemon --start --components=secrets),',
                'KWallet 5.97+ or KeePassXC (Secret Service integration), with DBUS_SESSION_BUS_ADDRESS set, and unlock its default collection',
              ]
            : ['unlock the login keychain (macOS) or the Credential Manager (Windows)'],
      };
    }
  },
};
