// A file's state is kept under fileKey(dev, ino): two files must never share a key, and one file
// must always get the same one, whether it packs into a number or falls back to a string.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fileKey } from '../../packages/core/dist/file-key.js';
import { rng } from './helpers.js';

test('same (dev, ino), same key; any other pair, another key, packed or not', () => {
  const random = rng(7);
  const devs = [0n, 1n, 2049n, 64769n, 0xffff_ffff_ffffn, 2n ** 64n - 1n];
  const inos = [0n, 1n, 2n, 0xffff_ffffn, 0x1_0000_0000n, 2n ** 63n, 2n ** 64n - 1n];
  for (let i = 0; i < 200; i++) inos.push(BigInt(Math.floor(random() * 2 ** 32)), BigInt(Math.floor(random() * 2 ** 53)));
  const seen = new Map<number | string, string>();
  for (const dev of devs) {
    for (const ino of inos) {
      const key = fileKey(dev, ino);
      assert.is(fileKey(dev, ino), key, `stable for ${dev}:${ino}`);
      const pair = `${dev}:${ino}`;
      const other = seen.get(key);
      assert.ok(other === undefined || other === pair, `${pair} and ${other} share the key ${key}`);
      seen.set(key, pair);
    }
  }
  assert.type(fileKey(5n, 12n), 'number', 'an ext4-sized inode number packs');
  assert.type(fileKey(5n, 2n ** 40n), 'string', 'a wider one does not');
});

test.run();
