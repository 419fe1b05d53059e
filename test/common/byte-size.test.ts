import { describe, expect, it } from 'vitest';
import { parseByteSize } from '../../electron/common/byte-size.js';

describe('parseByteSize', () => {
  it('reads decimal units as huggingface_hub does, binary units and byte counts', () => {
    const cases: [string, number][] = [
      ['5GB', 5_000_000_000],
      [' 500 MB ', 500_000_000],
      ['2GiB', 2 * 2 ** 30],
      ['1.5gb', 1_500_000_000],
      ['4096', 4096],
      ['10', 10],
      ['.5kb', 500],
      ['1.0000001KB', 1000],
      ['1TiB', 2 ** 40],
    ];
    for (const [text, bytes] of cases) expect(parseByteSize(text), text).toBe(bytes);
  });

  it('returns null for what is not a size', () => {
    for (const text of ['', 'five', '5 parsecs', '5G', 'GB', '-5GB', '1e9', '1.5', '0', '0MB', '0.0001KB', '5 G B', '0x10', '99999999PB', 'Infinity']) {
      expect(parseByteSize(text), text).toBeNull();
    }
  });
});
