import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gnupgHome } from '../../src/gpg/gnupg-home.js';

describe("GnuPG's home", () => {
  it('GNUPGHOME when set and not empty, else .gnupg in the home given', () => {
    expect(gnupgHome({ GNUPGHOME: '/g', HOME: '/home/x' }, '/home/x')).toBe('/g');
    expect(gnupgHome({ GNUPGHOME: '', HOME: '/home/x' }, '/home/x')).toBe(join('/home/x', '.gnupg'));
    expect(gnupgHome({}, '/home/y')).toBe(join('/home/y', '.gnupg'));
  });

  it('without a home, only GNUPGHOME answers', () => {
    expect(gnupgHome({ GNUPGHOME: '/g' }, undefined)).toBe('/g');
    expect(gnupgHome({ GNUPGHOME: '' }, undefined)).toBeUndefined();
    expect(gnupgHome({}, undefined)).toBeUndefined();
  });
});
