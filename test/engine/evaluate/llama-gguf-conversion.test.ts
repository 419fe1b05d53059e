import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckpointSummary, LayerPlan } from '../../../electron/api/types.js';
import { openCheckpoint } from '../../../electron/engine/checkpoint/open-checkpoint.js';
import { writeGgufLayout } from '../../../electron/engine/evaluate/gguf-layout-writer.js';
import { llamaGgufLayout, permutedRowSource, sizeLabel } from '../../../electron/engine/evaluate/llama-gguf-conversion.js';
import { parseSentencePieceModel } from '../../../electron/engine/evaluate/sentencepiece-model.js';
import { planOutputTensors } from '../../../electron/engine/export/output-tensors.js';
import { exportConfigFor } from '../../../electron/engine/export/config-remap.js';
import { resolvePlan } from '../../../electron/common/plan/layer-plan.js';
import { buildPlanFromRecipe } from '../../../electron/common/plan/plan-recipes.js';

const DEMO = path.resolve(import.meta.dirname, '../../../build/demo/stories260K');
const GGUF_MODELS = path.resolve(import.meta.dirname, '../../../../shared/models/gguf');

async function tensorBytes(file: string, info: { dataOffset: number; offset: number | bigint }, bytes: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    await handle.read(buffer, 0, bytes, info.dataOffset + Number(info.offset));
    return buffer;
  } finally {
    await handle.close();
  }
}

/** Every tensor's name, type, dims and bytes, and every metadata key, of a GGUF as llama.cpp's own parser reads it. */
async function ggufContents(file: string) {
  const info = await readGgufFileInfo(file, { readTensorInfo: true, logWarnings: false });
  const tensors = new Map<string, { type: number; dims: number[]; bytes: Buffer }>();
  const ordered = [...(info.fullTensorInfo ?? [])].sort((a, b) => Number(a.offset) - Number(b.offset));
  for (const [index, tensor] of ordered.entries()) {
    const end = index + 1 < ordered.length ? Number(ordered[index + 1]?.offset) : undefined;
    const elements = tensor.dimensions.reduce<number>((product, size) => product * Number(size), 1);
    const bytes = elements * (tensor.ggmlType === 0 ? 4 : 2);
    expect(end === undefined || end >= Number(tensor.offset) + bytes).toBe(true);
    const dataOffset = Math.ceil((info.infoEndOffset ?? Number.NaN) / 32) * 32;
    tensors.set(tensor.name, { type: tensor.ggmlType, dims: tensor.dimensions.map(Number), bytes: await tensorBytes(file, { dataOffset, offset: tensor.offset }, bytes) });
  }
  return { metadata: info.metadata as Record<string, unknown>, tensors };
}

describe('permutedRowSource', () => {
  it('interleaves the two rotary halves of each head as llama.cpp stores them', () => {
    // Two heads of dim 4: HF rows [h0: a0 a1 b0 b1][h1: ...] → GGUF [a0 b0 a1 b1].
    expect(Array.from({ length: 8 }, (_, row) => permutedRowSource(row, 8, 2))).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
  });
});

describe('sizeLabel', () => {
  it('rounds as gguf-py does', () => {
    expect(sizeLabel(260_032)).toBe('260K');
    expect(sizeLabel(7_241_732_096)).toBe('7.2B');
    expect(sizeLabel(10_731_524_096)).toBe('11B');
  });
});

describe('converting a Hugging Face Llama to GGUF', () => {
  let work: string;
  let demo: CheckpointSummary;
  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'dus-convert-'));
    demo = await openCheckpoint(DEMO);
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  async function convert(plan: LayerPlan, file: string) {
    const sources = new Map([[demo.id, demo]]);
    const resolved = resolvePlan(plan, sources);
    const config = exportConfigFor(resolved, sources)?.config as Record<string, unknown>;
    const pieces = parseSentencePieceModel(await readFile(path.join(DEMO, 'tokenizer.model')), path.join(DEMO, 'tokenizer.model'));
    const layout = llamaGgufLayout({
      config,
      tensors: planOutputTensors(resolved, sources),
      pieces,
      name: 'stories260K',
      path: DEMO,
      addSpecialTokens: { bos: true, eos: false },
    });
    await writeGgufLayout(file, layout);
    return ggufContents(file);
  }

  it('writes what llama.cpp\'s converter writes for stories260K: every key, the vocabulary and every tensor byte', async () => {
    const plan = buildPlanFromRecipe({ kind: 'stack', model: demo.id, times: 1 }, new Map([[demo.id, demo]]));
    const ours = await convert(plan, path.join(work, 'stories260K.gguf'));
    const reference = await ggufContents(path.join(GGUF_MODELS, 'stories260K-f32.gguf'));
    expect(ours.metadata).toEqual(reference.metadata);
    expect([...ours.tensors.keys()].sort()).toEqual([...reference.tensors.keys()].sort());
    for (const [name, tensor] of reference.tensors) {
      const mine = ours.tensors.get(name);
      expect({ name, type: mine?.type, dims: mine?.dims }).toEqual({ name, type: tensor.type, dims: tensor.dims });
      expect(mine?.bytes.equals(tensor.bytes), name).toBe(true);
    }
  });

  it('writes the tensors of the reference SOLAR DUS (drop 1) for the same plan', async () => {
    const plan = buildPlanFromRecipe({ kind: 'dus', model: demo.id, drop: 1 }, new Map([[demo.id, demo]]));
    const ours = await convert(plan, path.join(work, 'dus.gguf'));
    const reference = await ggufContents(path.join(GGUF_MODELS, 'stories260K-dus-drop1-f32.reference.gguf'));
    expect(ours.metadata['llama']).toEqual(reference.metadata['llama']);
    expect([...ours.tensors.keys()].sort()).toEqual([...reference.tensors.keys()].sort());
    for (const [name, tensor] of reference.tensors) expect(ours.tensors.get(name)?.bytes.equals(tensor.bytes), name).toBe(true);
  });
});
