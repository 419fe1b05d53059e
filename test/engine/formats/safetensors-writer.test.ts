import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StudioError } from '../../../electron/api/errors.js';
import { DTYPE_BITS, type SafetensorsDtype } from '../../../electron/api/types.js';
import { readSafetensorsHeader } from '../../../electron/engine/formats/safetensors.js';
import { layoutSafetensors, writeSafetensors } from '../../../electron/engine/formats/safetensors-writer.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dus-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ALL_DTYPES = Object.keys(DTYPE_BITS) as SafetensorsDtype[];

function patternBytes(length: number, salt: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let index = 0; index < length; index += 1) bytes[index] = (index * 31 + salt * 7) & 0xff;
  return bytes;
}

describe('layoutSafetensors', () => {
  it('orders tensors by element size descending, then by name', () => {
    const layout = layoutSafetensors([
      { name: 'b_half', dtype: 'F16', shape: [3] },
      { name: 'z_double', dtype: 'F64', shape: [1] },
      { name: 'a_half', dtype: 'BF16', shape: [1] },
      { name: 'byte', dtype: 'U8', shape: [5] },
      { name: 'a_float', dtype: 'F32', shape: [2] },
      { name: 'nibbles', dtype: 'F4', shape: [2] },
    ]);
    expect(layout.tensors.map((tensor) => tensor.name)).toEqual(['z_double', 'a_float', 'a_half', 'b_half', 'byte', 'nibbles']);
    expect(layout.dataBytes).toBe(8 + 8 + 2 + 6 + 5 + 1);
  });

  it('starts the JSON with "{", pads it with spaces to a multiple of 8 and always writes format "pt"', () => {
    const layout = layoutSafetensors([{ name: 'w', dtype: 'F32', shape: [1] }], { format: 'np', source: 'test' });
    const length = Number(layout.header.readBigUInt64LE(0));
    expect(length % 8).toBe(0);
    expect(layout.header.byteLength).toBe(8 + length);
    const text = layout.header.subarray(8).toString('utf8');
    expect(text.startsWith('{')).toBe(true);
    const json = text.trimEnd();
    expect(json.endsWith('}')).toBe(true);
    expect(text.slice(json.length)).toMatch(/^ {0,7}$/);
    const parsed = JSON.parse(text) as Record<string, unknown>;
    expect(parsed.__metadata__).toEqual({ format: 'pt', source: 'test' });
    expect(Object.keys(parsed)[0]).toBe('__metadata__');
  });

  it('refuses duplicate names, sub-byte sizes and bad dimensions', () => {
    expect(() =>
      layoutSafetensors([
        { name: 'w', dtype: 'F32', shape: [1] },
        { name: 'w', dtype: 'F32', shape: [1] },
      ]),
    ).toThrowError(expect.objectContaining({ code: 'DuplicateTensor' }));
    expect(() => layoutSafetensors([{ name: 'n', dtype: 'F4', shape: [3] }])).toThrowError(expect.objectContaining({ code: 'MisalignedSlice' }));
    expect(() => layoutSafetensors([{ name: 'd', dtype: 'F32', shape: [-1] }])).toThrowError(StudioError);
    expect(() => layoutSafetensors([{ name: '__metadata__', dtype: 'F32', shape: [1] }])).toThrowError(StudioError);
  });
});

describe('writeSafetensors', () => {
  it('round-trips every dtype with each tensor aligned to its element size', async () => {
    const filePath = path.join(dir, 'all-dtypes.safetensors');
    const tensors = ALL_DTYPES.map((dtype, index) => {
      // Shapes chosen so sub-byte dtypes fill whole bytes and sizes are odd where they can be.
      const shape = [2, 4, (index % 3) + 1];
      const bytes = (2 * 4 * ((index % 3) + 1) * DTYPE_BITS[dtype]) / 8;
      return { name: `t_${dtype.toLowerCase()}`, dtype, shape, data: patternBytes(bytes, index) };
    });
    await writeSafetensors(filePath, tensors, { origin: 'round-trip test' });

    const header = await readSafetensorsHeader(filePath);
    expect(header.headerLength % 8).toBe(0);
    expect(header.metadata).toEqual({ origin: 'round-trip test', format: 'pt' });
    const file = await readFile(filePath);
    expect(String.fromCharCode(file[8] as number)).toBe('{');
    expect(header.tensors).toHaveLength(ALL_DTYPES.length);
    for (const entry of header.tensors) {
      const elementBytes = Math.max(1, DTYPE_BITS[entry.dtype] / 8);
      const offset = header.dataStart + entry.begin;
      expect(offset % elementBytes, `${entry.name} at ${offset}`).toBe(0);
      const expected = tensors.find((tensor) => tensor.name === entry.name)!;
      expect(entry.dtype).toBe(expected.dtype);
      expect(entry.shape).toEqual(expected.shape);
      expect(new Uint8Array(file.subarray(offset, header.dataStart + entry.end))).toEqual(expected.data);
    }
  });

  it('leaves no file and no temporary file when the data does not match the shape', async () => {
    const sub = await mkdtemp(path.join(dir, 'atomic-'));
    const filePath = path.join(sub, 'bad.safetensors');
    await expect(writeSafetensors(filePath, [{ name: 'w', dtype: 'F32', shape: [2], data: new Uint8Array(4) }])).rejects.toMatchObject({
      code: 'TensorInvalidInfo',
    });
    expect(await readdir(sub)).toEqual([]);
  });

  it('replaces an existing file through a temporary name', async () => {
    const sub = await mkdtemp(path.join(dir, 'replace-'));
    const filePath = path.join(sub, 'model.safetensors');
    await writeSafetensors(filePath, [{ name: 'a', dtype: 'U8', shape: [1], data: new Uint8Array([1]) }]);
    await writeSafetensors(filePath, [{ name: 'b', dtype: 'U8', shape: [2], data: new Uint8Array([2, 3]) }]);
    expect(await readdir(sub)).toEqual(['model.safetensors']);
    const header = await readSafetensorsHeader(filePath);
    expect(header.tensors.map((tensor) => tensor.name)).toEqual(['b']);
  });
});
