import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../../electron/engine/checkpoint/open-checkpoint.js';
import { ggufArrayLength, parseGgufFile, parseGgufHeader, readGgufHeader, type GgufValue } from '../../../electron/engine/formats/gguf.js';
import { ggufFileBytes, layoutGguf, type GgufTensorLayoutInput } from '../../../electron/engine/formats/gguf-writer.js';
import { splitFileName, tokenListHash } from '../../../electron/engine/formats/gguf-format.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gguf-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function baseMetadata(extra: Array<[string, GgufValue]> = []): Map<string, GgufValue> {
  return new Map<string, GgufValue>([
    ['general.architecture', { type: 'STRING', value: 'llama' }],
    ['llama.block_count', { type: 'UINT32', value: 2 }],
    ['llama.embedding_length', { type: 'UINT32', value: 32 }],
    ...extra,
  ]);
}

function tensors(): Array<GgufTensorLayoutInput & { data: Uint8Array }> {
  const make = (name: string, type: GgufTensorLayoutInput['type'], shape: number[], bytes: number): GgufTensorLayoutInput & { data: Uint8Array } => ({
    name,
    type,
    shape,
    data: new Uint8Array(bytes).map((_, index) => (index * 7 + name.length) & 0xff),
  });
  return [
    make('token_embd.weight', 'Q8_0', [32, 10], 10 * 34),
    make('blk.0.attn_q.weight', 'F16', [32, 32], 2048),
    make('blk.0.attn_norm.weight', 'F32', [32], 128),
    make('blk.1.attn_q.weight', 'Q4_K', [256, 2], 288),
    make('blk.1.attn_norm.weight', 'F32', [32], 128),
    make('output_norm.weight', 'F32', [32], 128),
  ];
}

/** A valid file, then a byte-level edit of it. */
function validFile(metadata = baseMetadata()): Buffer {
  return ggufFileBytes(metadata, tensors());
}

/** Offset of the first occurrence of `text` (a key or tensor name) in the file. */
function at(file: Buffer, text: string): number {
  const index = file.indexOf(Buffer.from(text));
  if (index < 0) throw new Error(`${text} not in the file`);
  return index;
}

describe('parseGgufFile', () => {
  it('reads back what the writer wrote: metadata in order, types, shapes, aligned contiguous offsets', () => {
    const header = parseGgufFile(validFile(), 'model.gguf');
    expect([...header.metadata.keys()]).toEqual(['general.architecture', 'llama.block_count', 'llama.embedding_length']);
    expect(header.tensors.map((tensor) => [tensor.name, tensor.type, tensor.shape, tensor.bytes])).toEqual([
      ['token_embd.weight', 'Q8_0', [32, 10], 340],
      ['blk.0.attn_q.weight', 'F16', [32, 32], 2048],
      ['blk.0.attn_norm.weight', 'F32', [32], 128],
      ['blk.1.attn_q.weight', 'Q4_K', [256, 2], 288],
      ['blk.1.attn_norm.weight', 'F32', [32], 128],
      ['output_norm.weight', 'F32', [32], 128],
    ]);
    expect(header.dataStart % 32).toBe(0);
    expect(header.tensors.map((tensor) => tensor.offset)).toEqual([0, 352, 2400, 2528, 2816, 2944]);
  });

  it('honours general.alignment', () => {
    const header = parseGgufFile(validFile(baseMetadata([['general.alignment', { type: 'UINT32', value: 64 }]])), 'model.gguf');
    expect(header.alignment).toBe(64);
    expect(header.dataStart % 64).toBe(0);
    expect(header.tensors[1]?.offset).toBe(384);
  });

  it('sizes Q8_1 blocks as gguf.cpp does (ggml block_q8_1: two fp16 scales + 32 int8 = 36 bytes, not gguf-py\'s 40)', () => {
    const file = ggufFileBytes(baseMetadata(), [
      { name: 'blk.0.attn_q.weight', type: 'Q8_1', shape: [256, 1], data: new Uint8Array(8 * 36) },
      { name: 'blk.0.attn_norm.weight', type: 'F32', shape: [32], data: new Uint8Array(128) },
    ]);
    const header = parseGgufFile(file, 'q8_1.gguf');
    expect(header.tensors.map((tensor) => [tensor.bytes, tensor.offset])).toEqual([
      [288, 0],
      [128, 288],
    ]);
    expect(file.byteLength).toBe(header.dataStart + 288 + 128);
  });

  const cases: Array<[string, () => Buffer, string, RegExp]> = [
    ['a file shorter than the magic', () => Buffer.from('GG'), 'GgufBadMagic', /too short/],
    ['a file that is not GGUF', () => Buffer.from('{"a": 1}........................'), 'GgufBadMagic', /does not start with "GGUF"/],
    ['version 1', () => withU32(validFile(), 4, 1), 'GgufUnsupportedVersion', /version 1; llama.cpp reads versions 2 and 3/],
    ['version 4', () => withU32(validFile(), 4, 4), 'GgufUnsupportedVersion', /version 4/],
    ['a big-endian file', () => withU32(validFile(), 4, 0x03000000), 'GgufUnsupportedVersion', /big-endian/],
    ['a tensor count beyond the file', () => withU64(validFile(), 8, 2n ** 40n), 'GgufTruncated', /tensor count/],
    ['a key count beyond the file', () => withU64(validFile(), 16, 2n ** 62n), 'GgufTruncated', /key\/value count/],
    ['a key length beyond the file', () => withU64(validFile(), 24, 2n ** 63n), 'GgufTruncated', /length of key 0/],
    ['an unknown value type', () => withI32(validFile(), at(validFile(), 'general.architecture') + 20, 13), 'GgufUnknownType', /value type 13/],
    ['a key of the wrong type', () => validFile(baseMetadata([['general.alignment', { type: 'UINT64', value: 32 }]])), 'GgufWrongKeyType', /general.alignment" is UINT64; llama.cpp reads it as UINT32/],
    ['block_count of the wrong type', () => validFile(new Map([['general.architecture', { type: 'STRING', value: 'llama' }], ['llama.block_count', { type: 'INT32', value: 2 }]])), 'GgufWrongKeyType', /llama.block_count/],
    ['an architecture name that cannot prefix keys', () => validFile(baseMetadata([['general.architecture', { type: 'STRING', value: '.lama' }]])), 'GgufInvalidValue', /general.architecture is "\.lama"/],
    ['an alignment that is not a power of two', () => validFile(baseMetadata([['general.alignment', { type: 'UINT32', value: 48 }]])), 'GgufInvalidValue', /power of two/],
    ['a bool that is neither 0 nor 1', () => withByte(validFile(baseMetadata([['x.flag', { type: 'BOOL', value: true }]])), at(validFile(baseMetadata([['x.flag', { type: 'BOOL', value: true }]])), 'x.flag') + 10, 2), 'GgufInvalidValue', /bool of value 2/],
    ['a nested array', () => withI32(validFile(baseMetadata([['x.list', { type: 'ARRAY', itemType: 'INT32', values: [1] }]])), at(validFile(baseMetadata([['x.list', { type: 'ARRAY', itemType: 'INT32', values: [1] }]])), 'x.list') + 10, 9), 'GgufInvalidValue', /nested arrays/],
    ['an unknown tensor type', () => withI32(validFile(), typeOffset(validFile(), 'blk.0.attn_q.weight', 2), 4), 'GgufUnknownType', /GGML type 4/],
    ['a tensor type beyond every id', () => withI32(validFile(), typeOffset(validFile(), 'blk.0.attn_q.weight', 2), 99), 'GgufUnknownType', /GGML type 99/],
    ['a first dimension that is not whole blocks', () => withU64(validFile(), dimOffset(validFile(), 'blk.1.attn_q.weight', 0), 100n), 'GgufInvalidTensorInfo', /not a multiple of the 256-element blocks of Q4_K/],
    ['five dimensions', () => withU32(validFile(), at(validFile(), 'blk.0.attn_norm.weight') + 22, 5), 'GgufInvalidTensorInfo', /5 dimensions/],
    ['a negative dimension', () => withU64(validFile(), dimOffset(validFile(), 'blk.0.attn_norm.weight', 0), 2n ** 64n - 32n), 'GgufInvalidTensorInfo', /dimension 0 is -32/],
    ['a duplicate tensor name', () => renameKey(validFile(), 'blk.1.attn_norm.weight', 'blk.0.attn_norm.weight'), 'DuplicateTensor', /"blk.0.attn_norm.weight" appears twice/],
    ['a gap between tensors', () => withU64(validFile(), offsetOffset(validFile(), 'blk.0.attn_norm.weight', 1), 2432n), 'GgufInvalidOffset', /starts at data offset 2432, expected 2400 \(leaving a gap\)/],
    ['a misaligned offset', () => withU64(validFile(), offsetOffset(validFile(), 'blk.0.attn_norm.weight', 1), 2401n), 'GgufInvalidOffset', /not a multiple of the alignment 32/],
    ['an overlap', () => withU64(validFile(), offsetOffset(validFile(), 'blk.0.attn_norm.weight', 1), 352n), 'GgufInvalidOffset', /overlapping/],
    ['a first tensor not at 0', () => withU64(validFile(), offsetOffset(validFile(), 'token_embd.weight', 2), 32n), 'GgufInvalidOffset', /expected 0/],
    ['a truncated data section', () => validFile().subarray(0, validFile().byteLength - 200), 'GgufTruncated', /tensor data ends at byte/],
    ['a truncated header', () => validFile().subarray(0, 300), 'GgufTruncated', /the file ends at byte 300/],
  ];

  it.each(cases)('refuses %s', (_, build, code, message) => {
    let caught: unknown;
    try {
      parseGgufFile(build(), 'bad.gguf');
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code, path: 'bad.gguf' });
    expect((caught as Error).message).toMatch(/^bad\.gguf: /);
    expect((caught as Error).message).toMatch(message);
  });

  it('refuses a duplicate key', () => {
    const duplicated = ggufWithRawKeys([
      ['general.architecture', 'llama'],
      ['general.architecture', 'llama'],
    ]);
    expect(() => parseGgufFile(duplicated, 'dup.gguf')).toThrow(expect.objectContaining({ code: 'GgufDuplicateKey', message: 'dup.gguf: key "general.architecture" appears twice' }));
  });
});

describe('readGgufHeader and openCheckpoint', () => {
  it('reads a header larger than its first read (a long token list) without reading tensor data', async () => {
    const tokens = Array.from({ length: 200_000 }, (_, index) => `token-${index}`);
    const metadata = baseMetadata([['tokenizer.ggml.tokens', { type: 'ARRAY', itemType: 'STRING', values: tokens }]]);
    const filePath = path.join(dir, 'long-header.gguf');
    await writeFile(filePath, validFile(metadata));
    const header = await readGgufHeader(filePath);
    expect(header.dataStart).toBeGreaterThan(1 << 20);
    const summary = await openCheckpoint(filePath);
    expect(summary.vocabSize).toBe(200_000);
    expect(summary.config?.['tokenizer.ggml.tokens']).toMatchObject({ type: 'STRING', length: 200_000, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  describe('long arrays (a tokenizer)', () => {
    const tokens = Array.from({ length: 20_000 }, (_, index) => `Ġtok${index}`);
    const merges = Array.from({ length: 30_000 }, (_, index) => `Ġt ok${index}`);
    const tokenTypes = tokens.map((_, index) => (index % 7 === 0 ? 3 : 1));
    const metadata = (): Map<string, GgufValue> =>
      baseMetadata([
        ['tokenizer.ggml.tokens', { type: 'ARRAY', itemType: 'STRING', values: tokens }],
        ['tokenizer.ggml.token_type', { type: 'ARRAY', itemType: 'INT32', values: tokenTypes }],
        ['tokenizer.ggml.merges', { type: 'ARRAY', itemType: 'STRING', values: merges }],
        ['llama.feed_forward_length', { type: 'ARRAY', itemType: 'UINT32', values: [64, 96] }],
      ]);

    it('reads them from the file on first use, equal to what was written, and hashes the token list without making it', async () => {
      const filePath = path.join(dir, 'tokenizer.gguf');
      await writeFile(filePath, validFile(metadata()));
      const header = await readGgufHeader(filePath);
      const read = (key: string) => header.metadata.get(key) as GgufValue & { type: 'ARRAY' };
      expect(ggufArrayLength(read('tokenizer.ggml.merges'))).toBe(30_000);
      expect(tokenListHash(header.metadata)).toBe(tokenListHash(metadata()));
      expect(read('tokenizer.ggml.tokens').values).toEqual(tokens);
      expect(read('tokenizer.ggml.merges').values).toEqual(merges);
      expect(read('tokenizer.ggml.token_type').values).toEqual(tokenTypes);
      expect(read('llama.feed_forward_length').values).toEqual([64, 96]);
      expect(Object.isFrozen(read('tokenizer.ggml.tokens').values)).toBe(true);
    });

    it('writes a read token list back byte for byte, even bytes that are not UTF-8', async () => {
      const filePath = path.join(dir, 'not-utf8.gguf');
      const file = validFile(metadata());
      // "Ġtok1" (before the length byte of "Ġtok2") becomes "Ġt" + 0xC3 0x28 + "1": invalid UTF-8 of the same length.
      file.set([0xc3, 0x28], at(file, 'Ġtok1\u0006') + 3);
      await writeFile(filePath, file);
      const header = await readGgufHeader(filePath);
      const rewritten = layoutGguf(header.metadata, []).header;
      const tokensAt = (bytes: Buffer): Buffer => bytes.subarray(at(bytes, 'tokenizer.ggml.tokens'), at(bytes, 'tokenizer.ggml.token_type'));
      expect(tokensAt(rewritten).equals(tokensAt(file))).toBe(true);
      expect(tokenListHash(header.metadata)).not.toBe(tokenListHash(metadata()));
    });

    it('refuses to read them once the file has changed', async () => {
      const filePath = path.join(dir, 'changing.gguf');
      await writeFile(filePath, validFile(metadata()));
      const header = await readGgufHeader(filePath);
      await writeFile(filePath, validFile(metadata()).subarray(0, 1000));
      const merges = header.metadata.get('tokenizer.ggml.merges') as GgufValue & { type: 'ARRAY' };
      expect(() => merges.values).toThrow(
        expect.objectContaining({ code: 'SourceChanged', path: filePath, message: 'changing.gguf: the file changed after its header was read; open it again' }),
      );
    });
  });

  it('opens a split set from its first file and refuses to start from a later one', async () => {
    const all = tensors();
    const count = 3;
    const groups = [all.slice(0, 2), all.slice(2, 4), all.slice(4)];
    const folder = path.join(dir, 'split');
    await import('node:fs/promises').then((fs) => fs.mkdir(folder, { recursive: true }));
    for (const [index, group] of groups.entries()) {
      const metadata = index === 0 ? baseMetadata() : new Map<string, GgufValue>();
      metadata.set('split.no', { type: 'UINT16', value: index });
      metadata.set('split.count', { type: 'UINT16', value: count });
      metadata.set('split.tensors.count', { type: 'INT32', value: all.length });
      await writeFile(path.join(folder, splitFileName('model', index, count)), ggufFileBytes(metadata, group));
    }
    const summary = await openCheckpoint(folder);
    expect(summary.shards.map((shard) => path.basename(shard.file))).toEqual(['model-00001-of-00003.gguf', 'model-00002-of-00003.gguf', 'model-00003-of-00003.gguf']);
    expect(summary.tensors.map((tensor) => tensor.name)).toEqual(all.map((tensor) => tensor.name));
    expect(summary.numLayers).toBe(2);
    await expect(openCheckpoint(path.join(folder, 'model-00002-of-00003.gguf'))).rejects.toMatchObject({ code: 'GgufInvalidSplit', message: expect.stringMatching(/open the first split/) });
  });

  it('names a missing split', async () => {
    const folder = path.join(dir, 'split-missing');
    await import('node:fs/promises').then((fs) => fs.mkdir(folder, { recursive: true }));
    const metadata = baseMetadata([
      ['split.no', { type: 'UINT16', value: 0 }],
      ['split.count', { type: 'UINT16', value: 2 }],
      ['split.tensors.count', { type: 'INT32', value: 6 }],
    ]);
    await writeFile(path.join(folder, 'model-00001-of-00002.gguf'), ggufFileBytes(metadata, tensors()));
    await expect(openCheckpoint(path.join(folder, 'model-00001-of-00002.gguf'))).rejects.toMatchObject({ code: 'NotFound', path: path.join(folder, 'model-00002-of-00002.gguf') });
  });

  it('lays out header and offsets exactly as it reads them back', () => {
    const layout = layoutGguf(baseMetadata(), tensors());
    const header = parseGgufFile(validFile(), 'model.gguf');
    expect(layout.header.byteLength).toBe(header.dataStart);
    expect(layout.tensors.map((tensor) => tensor.offset)).toEqual(header.tensors.map((tensor) => tensor.offset));
  });
});

function withU32(file: Buffer, offset: number, value: number): Buffer {
  const copy = Buffer.from(file);
  copy.writeUInt32LE(value, offset);
  return copy;
}
function withI32(file: Buffer, offset: number, value: number): Buffer {
  const copy = Buffer.from(file);
  copy.writeInt32LE(value, offset);
  return copy;
}
function withU64(file: Buffer, offset: number, value: bigint): Buffer {
  const copy = Buffer.from(file);
  copy.writeBigUInt64LE(value, offset);
  return copy;
}
function withByte(file: Buffer, offset: number, value: number): Buffer {
  const copy = Buffer.from(file);
  copy[offset] = value;
  return copy;
}
/** Replaces a name by another of the same byte length. */
function renameKey(file: Buffer, from: string, to: string): Buffer {
  const copy = Buffer.from(file);
  Buffer.from(to.slice(0, from.length)).copy(copy, at(file, from));
  return copy;
}
/** Byte offsets inside a tensor info: name, u32 dims, dims × u64, i32 type, u64 offset. */
function dimOffset(file: Buffer, name: string, axis: number): number {
  return at(file, name) + name.length + 4 + axis * 8;
}
function typeOffset(file: Buffer, name: string, dims: number): number {
  return at(file, name) + name.length + 4 + dims * 8;
}
function offsetOffset(file: Buffer, name: string, dims: number): number {
  return typeOffset(file, name, dims) + 4;
}
/** A header with string keys written verbatim (the writer's Map cannot hold a duplicate). */
function ggufWithRawKeys(entries: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [Buffer.from('GGUF')];
  const u32 = (value: number): Buffer => {
    const buffer = Buffer.alloc(4);
    buffer.writeUInt32LE(value);
    return buffer;
  };
  const u64 = (value: number): Buffer => {
    const buffer = Buffer.alloc(8);
    buffer.writeBigUInt64LE(BigInt(value));
    return buffer;
  };
  const text = (value: string): Buffer => Buffer.concat([u64(Buffer.byteLength(value)), Buffer.from(value)]);
  parts.push(u32(3), u64(0), u64(entries.length));
  for (const [key, value] of entries) parts.push(text(key), u32(8), text(value));
  return Buffer.concat(parts);
}

describe('the GGUF exporter layout', () => {
  it('lays out a llama.cpp split set: whole tensors in order, split.* keys, metadata in the first split only', async () => {
    const { ggufFormat } = await import('../../../electron/engine/formats/gguf-format.js');
    const outputs = tensors().map((tensor) => ({
      name: tensor.name,
      dtype: tensor.type,
      shape: tensor.shape,
      bytes: tensor.data.byteLength,
      source: { file: '/src.gguf', offset: 0, bytes: tensor.data.byteLength, dtype: tensor.type, name: tensor.name, model: '/src.gguf' },
      scale: 1,
      layer: null,
    }));
    const { files, companions } = ggufFormat.exporter.layout(outputs, { shardSize: 2100, metadata: baseMetadata(), name: 'merged' });
    expect(companions).toEqual([]);
    expect(files.map((file) => file.file)).toEqual(['merged-00001-of-00003.gguf', 'merged-00002-of-00003.gguf', 'merged-00003-of-00003.gguf']);
    expect(files.flatMap((file) => file.tensors.map((tensor) => tensor.name))).toEqual(outputs.map((tensor) => tensor.name));
    const headers = files.map((file) => parseGgufHeader(Buffer.concat([file.header, Buffer.alloc(file.size - file.header.byteLength)]), file.size, file.file));
    expect(headers.map((header) => [header.metadata.get('split.no'), header.metadata.get('split.count')])).toEqual([0, 1, 2].map((no) => [{ type: 'UINT16', value: no }, { type: 'UINT16', value: 3 }]));
    expect(headers[0]?.metadata.get('llama.block_count')).toEqual({ type: 'UINT32', value: 2 });
    expect(headers[1]?.metadata.has('llama.block_count')).toBe(false);
    files.forEach((file, index) => {
      for (const tensor of headers[index]?.tensors ?? []) expect(file.offsets.get(tensor.name)).toBe((headers[index] as { dataStart: number }).dataStart + tensor.offset);
    });
  });
});
