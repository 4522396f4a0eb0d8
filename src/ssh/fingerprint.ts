import { createHash } from 'node:crypto';

/** OpenSSH's default fingerprint: "SHA256:" + unpadded base64 of SHA-256(blob) (ssh-keygen -l). */
export function sha256Fingerprint(keyBlob: Uint8Array): string {
  const digest = createHash('sha256').update(keyBlob).digest('base64');
  return `SHA256:${digest.replace(/=+$/, '')}`;
}
