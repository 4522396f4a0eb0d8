import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { filesystemOf, isNetworkType, statfsMagic, typeFromMountinfo } from '../../src/os/network-filesystem.js';

/** A mountinfo as a machine with an NFS home, an sshfs mount and an NTFS disk through FUSE shows it. */
const MOUNTINFO = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '30 22 0:40 / /home rw,relatime shared:20 - nfs4 fileserver:/export/home rw,vers=4.2',
  '31 30 0:41 / /home/alice/remote rw,nosuid shared:21 - fuse.sshfs alice@box: rw,user_id=1000',
  '32 22 8:17 / /media/usb\\040disk rw,relatime shared:22 - fuseblk /dev/sdb1 rw',
  '33 22 0:50 / /tmp rw,nosuid shared:23 - tmpfs tmpfs rw',
  '34 22 0:51 / /tmp rw,nosuid shared:24 - cifs //srv/share rw',
  '35 22 0:52 / /run/user/1000 rw,nosuid - tmpfs tmpfs rw,mode=700',
].join('\n');

describe('network filesystems', () => {
  it('finds the mount with the longest mount point above a path (the last one at a point wins)', () => {
    expect(typeFromMountinfo(MOUNTINFO, '/home/alice/.ssh')).toBe('nfs4');
    expect(typeFromMountinfo(MOUNTINFO, '/home/alice/remote/x')).toBe('fuse.sshfs');
    expect(typeFromMountinfo(MOUNTINFO, '/home2/x')).toBe('ext4');
    expect(typeFromMountinfo(MOUNTINFO, '/media/usb disk/a')).toBe('fuseblk');
    expect(typeFromMountinfo(MOUNTINFO, '/tmp/openpgp-card-agent-x')).toBe('cifs');
    expect(typeFromMountinfo(MOUNTINFO, '/run/user/1000')).toBe('tmpfs');
  });

  it('counts NFS, SMB/CIFS, FUSE and cluster filesystems as network ones; local disks, tmpfs and fuseblk not', () => {
    for (const t of ['nfs', 'nfs4', 'cifs', 'smb3', 'fuse.sshfs', 'fuse', 'ceph', '9p', 'afs', 'glusterfs']) expect(isNetworkType(t), t).toBe(true);
    for (const t of ['ext4', 'xfs', 'btrfs', 'tmpfs', 'fuseblk', 'overlay', 'zfs', 'proc']) expect(isNetworkType(t), t).toBe(false);
  });

  it.skipIf(process.platform !== 'linux')('reads this machine: statfs f_type agrees with stat -f, and mountinfo names the type', () => {
    for (const path of ['/tmp', '/proc', '/dev']) {
      const theirs = parseInt(execFileSync('stat', ['-f', '-c', '%t', path], { encoding: 'utf8' }).trim(), 16);
      expect(statfsMagic(path), path).toBe(theirs);
    }
    expect(filesystemOf('/proc/self')).toEqual({ type: 'proc', network: false, source: 'mountinfo' });
    // A path that does not exist yet is judged by its nearest existing ancestor.
    expect(filesystemOf('/proc/no/such/dir')?.type).toBe('proc');
    // Without mountinfo, statfs alone: proc is 0x9fa0 and not a network filesystem.
    expect(filesystemOf('/proc', '/nonexistent/mountinfo')).toEqual({ type: 'magic 0x9fa0', network: false, source: 'statfs' });
  });
});
