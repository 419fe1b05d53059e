import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../../electron/api/errors.js';
import { StudioError } from '../../../electron/api/errors.js';
import {
  MAX_HEADER_LENGTH,
  MAX_PARSED_HEADER_BYTES,
  parseSafetensorsHeader,
  readSafetensorsHeader,
} from '../../../electron/engine/formats/safetensors.js';
import { writeSafetensors } from '../../../electron/engine/formats/safetensors-writer.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dus-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A file of: 8-byte LE length (the JSON's, unless overridden), the header bytes, then `dataBytes` zero bytes. */
function rawFile(header: string | Uint8Array, dataBytes: number, lengthOverride?: bigint): Buffer {
  const headerBytes = typeof header === 'string' ? Buffer.from(header, 'utf8') : Buffer.from(header);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(lengthOverride ?? BigInt(headerBytes.byteLength));
  return Buffer.concat([prefix, headerBytes, Buffer.alloc(dataBytes)]);
}

async function expectStudioError(promise: Promise<unknown>, code: ErrorCode): Promise<StudioError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(StudioError);
  expect((error as StudioError).code).toBe(code);
  return error as StudioError;
}

const f32 = (name: string, shape: number[], offsets: [number, number]): string =>
  `"${name}":{"dtype":"F32","shape":${JSON.stringify(shape)},"data_offsets":${JSON.stringify(offsets)}}`;

interface MalformedCase {
  rule: string;
  code: ErrorCode;
  file: () => Buffer;
  /** A tensor name the message must mention. */
  tensor?: string;
}

const malformed: MalformedCase[] = [
  { rule: '1: a file shorter than 8 bytes', code: 'HeaderTooSmall', file: () => Buffer.from([1, 2, 3]) },
  { rule: '1: an empty file', code: 'HeaderTooSmall', file: () => Buffer.alloc(0) },
  { rule: '2: N above 100,000,000', code: 'HeaderTooLarge', file: () => rawFile('{}', 0, BigInt(MAX_HEADER_LENGTH + 1)) },
  { rule: '2: N = 2^64 − 1', code: 'HeaderTooLarge', file: () => rawFile('{}', 0, 2n ** 64n - 1n) },
  { rule: '3: N beyond the end of the file', code: 'InvalidHeaderLength', file: () => rawFile('{}', 0, 1000n) },
  {
    rule: '4: header bytes that are not UTF-8',
    code: 'InvalidHeader',
    file: () => rawFile(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), 0),
  },
  { rule: '5: text that is not JSON', code: 'InvalidHeaderDeserialization', file: () => rawFile('{"a": ', 0) },
  { rule: '5: a JSON array', code: 'InvalidHeaderDeserialization', file: () => rawFile('[]', 0) },
  { rule: '5: a byte-order mark before the JSON', code: 'InvalidHeaderDeserialization', file: () => rawFile('\uFEFF{}', 0) },
  {
    rule: '5: an unknown dtype',
    code: 'InvalidHeaderDeserialization',
    file: () => rawFile('{"w":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}}', 4),
  },
  {
    rule: '5: a dtype in lower case',
    code: 'InvalidHeaderDeserialization',
    file: () => rawFile('{"w":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}', 4),
  },
  { rule: '5: a negative dimension', code: 'InvalidHeaderDeserialization', file: () => rawFile(`{${f32('w', [-1], [0, 4])}}`, 4) },
  { rule: '5: a fractional dimension', code: 'InvalidHeaderDeserialization', file: () => rawFile(`{${f32('w', [1.5], [0, 4])}}`, 4) },
  {
    rule: '5: a dimension given as a string',
    code: 'InvalidHeaderDeserialization',
    file: () => rawFile('{"w":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}', 4),
  },
  {
    rule: '5: a dimension beyond 2^53',
    code: 'InvalidHeaderDeserialization',
    file: () => rawFile('{"w":{"dtype":"F32","shape":[18014398509481984],"data_offsets":[0,4]}}', 4),
  },
  {
    rule: '5: data_offsets with three numbers',
    code: 'InvalidHeaderDeserialization',
    file: () => rawFile('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}', 4),
  },
  {
    rule: '5: a negative data offset',
    code: 'InvalidHeaderDeserialization',
    file: () => rawFile('{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}', 4),
  },
  {
    rule: '5: a missing shape',
    code: 'InvalidHeaderDeserialization',
    file: () => rawFile('{"w":{"dtype":"F32","data_offsets":[0,4]}}', 4),
  },
  {
    rule: '5: an extra field in a tensor entry',
    code: 'InvalidHeaderDeserialization',
    file: () => rawFile('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"device":"cpu"}}', 4),
  },
  { rule: '5: a tensor entry that is not an object', code: 'InvalidHeaderDeserialization', file: () => rawFile('{"w":[1,2]}', 0) },
  {
    rule: '5: a metadata value that is not a string',
    code: 'InvalidHeaderDeserialization',
    file: () => rawFile('{"__metadata__":{"format":"pt","step":100}}', 0),
  },
  {
    rule: '6: a first tensor that does not start at 0',
    code: 'InvalidOffset',
    tensor: 'first',
    file: () => rawFile(`{${f32('first', [1], [4, 8])}}`, 8),
  },
  {
    rule: '6: a gap between tensors',
    code: 'InvalidOffset',
    tensor: 'second',
    file: () => rawFile(`{${f32('first', [1], [0, 4])},${f32('second', [1], [8, 12])}}`, 12),
  },
  {
    rule: '6: overlapping tensors',
    code: 'InvalidOffset',
    tensor: 'second',
    file: () => rawFile(`{${f32('first', [2], [0, 8])},${f32('second', [1], [4, 8])}}`, 8),
  },
  {
    rule: '6: an end before the begin',
    code: 'InvalidOffset',
    tensor: 'backwards',
    file: () => rawFile(`{${f32('first', [1], [0, 4])},${f32('backwards', [1], [4, 0])}}`, 4),
  },
  {
    rule: '6 before 9: a gap is reported even when the size is also wrong',
    code: 'InvalidOffset',
    tensor: 'w',
    file: () => rawFile(`{${f32('w', [3], [2, 6])}}`, 6),
  },
  {
    rule: '7: an element count past 2^53',
    code: 'ValidationOverflow',
    tensor: 'huge',
    file: () => rawFile('{"huge":{"dtype":"U8","shape":[1073741824,1073741824],"data_offsets":[0,1152921504606846976]}}', 0),
  },
  {
    rule: '8: F4 elements that are not a whole number of bytes',
    code: 'MisalignedSlice',
    tensor: 'nibbles',
    file: () => rawFile('{"nibbles":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}', 2),
  },
  {
    rule: '8: F6 elements that are not a whole number of bytes',
    code: 'MisalignedSlice',
    tensor: 'six',
    file: () => rawFile('{"six":{"dtype":"F6_E2M3","shape":[2],"data_offsets":[0,2]}}', 2),
  },
  {
    rule: '9: a byte range that does not match shape × dtype',
    code: 'TensorInvalidInfo',
    tensor: 'short',
    file: () => rawFile(`{${f32('short', [2], [0, 4])}}`, 4),
  },
  {
    rule: '10: a truncated data buffer',
    code: 'MetadataIncompleteBuffer',
    file: () => rawFile(`{${f32('w', [4], [0, 16])}}`, 12),
  },
  {
    rule: '10: trailing bytes after the last tensor',
    code: 'MetadataIncompleteBuffer',
    file: () => rawFile(`{${f32('w', [1], [0, 4])}}`, 5),
  },
  { rule: '10: data bytes in a file without tensors', code: 'MetadataIncompleteBuffer', file: () => rawFile('{}', 3) },
];

describe('readSafetensorsHeader', () => {
  it.each(malformed)('refuses rule $rule with $code, naming the file', async ({ code, file, tensor }) => {
    const filePath = path.join(dir, `malformed-${code}-${Math.random().toString(36).slice(2)}.safetensors`);
    await writeFile(filePath, file());
    const error = await expectStudioError(readSafetensorsHeader(filePath), code);
    expect(error.message).toContain(path.basename(filePath));
    expect(error.path).toBe(filePath);
    if (tensor !== undefined) expect(error.message).toContain(`"${tensor}"`);
  });

  it('reports a missing file as NotFound', async () => {
    await expectStudioError(readSafetensorsHeader(path.join(dir, 'absent.safetensors')), 'NotFound');
  });

  it('reads scalars, zero-size tensors and metadata', async () => {
    const filePath = path.join(dir, 'edge.safetensors');
    await writeSafetensors(
      filePath,
      [
        { name: 'scalar', dtype: 'F32', shape: [], data: new Uint8Array([0, 0, 128, 63]) },
        { name: 'empty', dtype: 'BF16', shape: [0, 4], data: new Uint8Array(0) },
        { name: 'also_empty', dtype: 'I64', shape: [3, 0], data: new Uint8Array(0) },
        { name: 'bytes', dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
      ],
      { step: '100', note: 'edge cases' },
    );
    const header = await readSafetensorsHeader(filePath);
    expect(header.metadata).toEqual({ step: '100', note: 'edge cases', format: 'pt' });
    expect(header.headerLength % 8).toBe(0);
    expect(header.dataStart).toBe(8 + header.headerLength);
    const byName = Object.fromEntries(header.tensors.map((tensor) => [tensor.name, tensor]));
    expect(byName.scalar).toMatchObject({ shape: [], dtype: 'F32' });
    expect(byName.scalar!.end - byName.scalar!.begin).toBe(4);
    expect(byName.empty!.end - byName.empty!.begin).toBe(0);
    expect(byName.also_empty).toMatchObject({ shape: [3, 0], dtype: 'I64' });
    expect(header.fileSize).toBe(header.dataStart + 7);
    const begins = header.tensors.map((tensor) => tensor.begin);
    expect([...begins].sort((a, b) => a - b)).toEqual(begins);
  });

  it('accepts a header without tensors and a null __metadata__', async () => {
    const filePath = path.join(dir, 'empty-null.safetensors');
    await writeFile(filePath, rawFile('{"__metadata__":null}  ', 0));
    const header = await readSafetensorsHeader(filePath);
    expect(header.tensors).toEqual([]);
    expect(header.metadata).toBeNull();
  });

  it('accepts an F4 tensor of an even element count', async () => {
    const filePath = path.join(dir, 'f4.safetensors');
    await writeFile(filePath, rawFile('{"nibbles":{"dtype":"F4","shape":[2,3],"data_offsets":[0,3]}}', 3));
    const header = await readSafetensorsHeader(filePath);
    expect(header.tensors[0]).toMatchObject({ name: 'nibbles', begin: 0, end: 3 });
  });

  it('reads only the header of a file whose data region is a sparse terabyte', async () => {
    const filePath = path.join(dir, 'sparse.safetensors');
    const terabyte = 2 ** 40;
    const header = rawFile(`{"huge":{"dtype":"U8","shape":[${terabyte}],"data_offsets":[0,${terabyte}]}}`, 0);
    await writeFile(filePath, header);
    const handle = await open(filePath, 'r+');
    await handle.truncate(header.byteLength + terabyte);
    await handle.close();
    // Reading the data region would take hours and a terabyte of memory: the test's timeout catches that.
    const read = await readSafetensorsHeader(filePath);
    expect(read.fileSize).toBe(header.byteLength + terabyte);
    expect(read.tensors[0]).toMatchObject({ name: 'huge', begin: 0, end: terabyte });
  });
});

/** A file whose header is `json` padded with spaces to exactly `headerLength` bytes (a writer may pad as it likes), then `dataBytes` zero bytes. */
async function writePaddedHeaderFile(filePath: string, json: string, headerLength: number, dataBytes: number): Promise<void> {
  const header = Buffer.alloc(headerLength, 0x20);
  header.write(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerLength));
  await writeFile(filePath, Buffer.concat([prefix, header, Buffer.alloc(dataBytes)]));
}

/** Writing 100 MB takes seconds on a busy machine: the bound only catches a hang. */
const LONG_HEADER_TIMEOUT_MS = 300_000;

describe('readSafetensorsHeader on long headers', () => {
  const tensorJson = '{"__metadata__":{"format":"pt","note":"two  spaces, a \\"quote\\" and a tab\\t"},"a b":{"dtype":"U8","shape":[2, 2],"data_offsets":[0,4]}}';

  it('reads a header of exactly the 100,000,000-byte limit', async () => {
    const filePath = path.join(dir, 'at-limit.safetensors');
    await writePaddedHeaderFile(filePath, tensorJson, MAX_HEADER_LENGTH, 4);
    const header = await readSafetensorsHeader(filePath);
    expect(header).toMatchObject({ headerLength: MAX_HEADER_LENGTH, dataStart: 8 + MAX_HEADER_LENGTH, fileSize: 8 + MAX_HEADER_LENGTH + 4 });
    // Whitespace inside strings is kept while the padding is dropped.
    expect(header.metadata).toEqual({ format: 'pt', note: 'two  spaces, a "quote" and a tab\t' });
    expect(header.tensors).toEqual([{ name: 'a b', dtype: 'U8', shape: [2, 2], begin: 0, end: 4 }]);
    await rm(filePath);
  }, LONG_HEADER_TIMEOUT_MS);

  it('refuses a header one byte over the limit with HeaderTooLarge', async () => {
    const filePath = path.join(dir, 'over-limit.safetensors');
    // The file is long enough for N, so only the limit (rule 2) refuses it.
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(MAX_HEADER_LENGTH + 1));
    await writeFile(filePath, prefix);
    const handle = await open(filePath, 'r+');
    await handle.truncate(8 + MAX_HEADER_LENGTH + 1);
    await handle.close();
    const error = await expectStudioError(readSafetensorsHeader(filePath), 'HeaderTooLarge');
    expect(error.message).toContain(`more than the ${MAX_HEADER_LENGTH}-byte limit`);
  });

  it(`refuses a header with more than ${MAX_PARSED_HEADER_BYTES} bytes of JSON before parsing it`, async () => {
    const filePath = path.join(dir, 'dense.safetensors');
    const entries: string[] = [];
    let length = 2;
    for (let index = 0; length <= MAX_PARSED_HEADER_BYTES; index += 1) {
      const entry = `"t${index}":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`;
      entries.push(entry);
      length += entry.length + 1;
    }
    const json = `{${entries.join(',')}}`;
    await writePaddedHeaderFile(filePath, json, Math.ceil(json.length / 8) * 8, 0);
    const error = await expectStudioError(readSafetensorsHeader(filePath), 'HeaderTooLarge');
    expect(error.message).toBe(`dense.safetensors: the header holds more than ${MAX_PARSED_HEADER_BYTES} bytes of JSON (whitespace aside); DUS Studio reads no more, far beyond any real checkpoint's header`);
  }, LONG_HEADER_TIMEOUT_MS);

  it('keeps whitespace that separates two values when it compacts a long header', async () => {
    const filePath = path.join(dir, 'two-numbers.safetensors');
    // [1 2] is not JSON; dropping the space would make it the valid shape [12].
    await writePaddedHeaderFile(filePath, '{"x":{"dtype":"U8","shape":[1 2],"data_offsets":[0,12]}}', MAX_PARSED_HEADER_BYTES + 8, 12);
    await expectStudioError(readSafetensorsHeader(filePath), 'InvalidHeaderDeserialization');
  });
});

describe('parseSafetensorsHeader', () => {
  it('refuses a header claiming 2^60 elements without allocating them', () => {
    const json = '{"w":{"dtype":"BF16","shape":[1073741824,1073741824],"data_offsets":[0,2305843009213693952]}}';
    expect(() => parseSafetensorsHeader(Buffer.from(json), 8 + json.length, '/x/claims.safetensors')).toThrowError(
      expect.objectContaining({ code: 'ValidationOverflow' }),
    );
  });

  it('sorts tensors by offset whatever their order in the JSON', () => {
    const json = `{${f32('b', [1], [4, 8])},${f32('a', [1], [0, 4])}}`;
    const header = parseSafetensorsHeader(Buffer.from(json), 8 + json.length + 8, '/x/order.safetensors');
    expect(header.tensors.map((tensor) => tensor.name)).toEqual(['a', 'b']);
  });

  it('keeps a tensor named __proto__ as an ordinary tensor', () => {
    const json = `{${f32('__proto__', [1], [0, 4])}}`;
    const header = parseSafetensorsHeader(Buffer.from(json), 8 + json.length + 4, '/x/proto.safetensors');
    expect(header.tensors.map((tensor) => tensor.name)).toEqual(['__proto__']);
  });
});
