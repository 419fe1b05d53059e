import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../../electron/engine/checkpoint/open-checkpoint.js';
import { readGgufHeader } from '../../../electron/engine/formats/gguf.js';

const GGUF_DIR = path.resolve(import.meta.dirname, '../../../../shared/models/gguf');

interface ReferenceTensor {
  name: string;
  type: string;
  shape: number[];
  nBytes: number;
  sha256: string;
}

const reference = JSON.parse(await readFile(path.join(GGUF_DIR, 'reference-values.json'), 'utf8')) as Record<
  string,
  { tensors: ReferenceTensor[]; metadata: Record<string, unknown> }
>;

describe('the GGUF reader on llama.cpp-written files', () => {
  it.each(Object.keys(reference))('reads every tensor of %s as gguf-py does: name, type, shape, bytes', async (fileName) => {
    const expected = reference[fileName] as { tensors: ReferenceTensor[]; metadata: Record<string, unknown> };
    const filePath = path.join(GGUF_DIR, fileName);
    const header = await readGgufHeader(filePath);
    expect(header.version).toBe(expected.metadata['GGUF.version']);
    expect(header.metadata.size).toBe(expected.metadata['GGUF.kv_count']);
    const found = header.tensors.map((tensor) => ({ name: tensor.name, type: tensor.type, shape: tensor.shape, nBytes: tensor.bytes }));
    expect(found).toEqual(expected.tensors.map((tensor) => ({ name: tensor.name, type: tensor.type, shape: tensor.shape, nBytes: tensor.nBytes })));
    for (const [key, value] of Object.entries(expected.metadata)) {
      if (key.startsWith('GGUF.')) continue;
      const entry = header.metadata.get(key);
      expect(entry, key).toBeDefined();
      if (entry?.type === 'ARRAY') expect(entry.values, key).toEqual(value);
      else if (typeof value === 'number' && !Number.isInteger(value)) expect(entry?.value as number, key).toBeCloseTo(value, 12);
      else expect(entry?.value, key).toEqual(value);
    }
  });

  it.each(Object.keys(reference))('opens %s with tensor offsets whose bytes hash to the reference', async (fileName) => {
    const expected = reference[fileName] as { tensors: ReferenceTensor[] };
    const summary = await openCheckpoint(path.join(GGUF_DIR, fileName));
    const file = await readFile(path.join(GGUF_DIR, fileName));
    const byName = new Map(summary.tensors.map((tensor) => [tensor.name, tensor]));
    for (const tensor of expected.tensors) {
      const info = byName.get(tensor.name);
      expect(info?.dtype, tensor.name).toBe(tensor.type);
      expect(info?.bytes, tensor.name).toBe(tensor.nBytes);
      const bytes = file.subarray(info!.offset, info!.offset + info!.bytes);
      expect(createHash('sha256').update(bytes).digest('hex'), tensor.name).toBe(tensor.sha256);
    }
  });

  it('summarises stories260K-f32.gguf as a 5-layer tied llama with a tokenizer of 512 tokens', async () => {
    const summary = await openCheckpoint(path.join(GGUF_DIR, 'stories260K-f32.gguf'));
    expect(summary).toMatchObject({
      format: 'gguf',
      architecture: 'llama',
      family: 'gguf',
      layerPrefix: 'blk.',
      layerCountKey: 'llama.block_count',
      numLayers: 5,
      configNumLayers: 5,
      hiddenSize: 64,
      intermediateSize: 172,
      vocabSize: 512,
      numAttentionHeads: 8,
      numKeyValueHeads: 4,
      // stories260K has no output.weight: llama.cpp uses token_embd as the head.
      tiedEmbeddings: true,
      sideFiles: [],
    });
    expect(summary.warnings).toEqual([]);
    expect(summary.layers[0]?.tensorNames).toEqual([
      'attn_k.weight',
      'attn_norm.weight',
      'attn_output.weight',
      'attn_q.weight',
      'attn_v.weight',
      'ffn_down.weight',
      'ffn_gate.weight',
      'ffn_norm.weight',
      'ffn_up.weight',
    ]);
    const kinds = Object.fromEntries(summary.tensors.filter((tensor) => tensor.layer === 0 || tensor.layer === null).map((tensor) => [tensor.name, tensor.kind]));
    expect(kinds).toMatchObject({
      'token_embd.weight': 'embed',
      'output_norm.weight': 'final_norm',
      'blk.0.attn_q.weight': 'q',
      'blk.0.attn_output.weight': 'o',
      'blk.0.ffn_down.weight': 'down',
      'blk.0.attn_norm.weight': 'input_norm',
      'blk.0.ffn_norm.weight': 'post_attention_norm',
    });
    const tokens = summary.config?.['tokenizer.ggml.tokens'];
    expect(Array.isArray(tokens) ? tokens.length : (tokens as { length: number }).length).toBe(512);
  });

  it('finds the separate head of the quant zoo', async () => {
    const summary = await openCheckpoint(path.join(GGUF_DIR, 'quantzoo-q4_k_m.gguf'));
    expect(summary.tiedEmbeddings).toBe(false);
    expect(summary.tensors.find((tensor) => tensor.name === 'output.weight')?.kind).toBe('head');
    expect(summary).toMatchObject({ numLayers: 2, hiddenSize: 256, intermediateSize: 512, numAttentionHeads: 4, numKeyValueHeads: 2, vocabSize: 512 });
  });

  it('shows the several types of a K-quant mix per tensor and in the dtype totals', async () => {
    const summary = await openCheckpoint(path.join(GGUF_DIR, 'quantzoo-q3_k_m.gguf'));
    const types = new Set(summary.tensors.map((tensor) => tensor.dtype));
    expect(types.size).toBeGreaterThan(2);
    expect(Object.keys(summary.dtypes).sort()).toEqual([...types].sort());
    expect(summary.layers.map((layer) => layer.bytes).reduce((a, b) => a + b, 0)).toBe(
      summary.tensors.filter((tensor) => tensor.layer !== null).reduce((sum, tensor) => sum + tensor.bytes, 0),
    );
  });
});
