import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  findLayerCountKey,
  getConfigPath,
  readConfigFacts,
  readModelConfig,
  setConfigPath,
} from '../../../electron/engine/checkpoint/model-config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dus-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readModelConfig', () => {
  it('reads a JSON object', async () => {
    const configPath = path.join(dir, 'good.json');
    await writeFile(configPath, '{"num_hidden_layers": 4}');
    expect(await readModelConfig(configPath)).toEqual({ num_hidden_layers: 4 });
  });

  it.each([
    ['invalid JSON', '{"num_hidden_layers": '],
    ['a JSON array', '[1, 2]'],
    ['JSON null', 'null'],
  ])('refuses %s as InvalidConfig naming the file', async (_, text) => {
    const configPath = path.join(dir, `config-${text.length}.json`);
    await writeFile(configPath, text);
    const error = await readModelConfig(configPath).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'InvalidConfig', path: configPath });
    expect((error as Error).message).toContain(path.basename(configPath));
  });

  it('reports a missing config as NotFound', async () => {
    await expect(readModelConfig(path.join(dir, 'absent.json'))).rejects.toMatchObject({ code: 'NotFound' });
  });
});

describe('findLayerCountKey', () => {
  it.each([
    [{ num_hidden_layers: 32 }, 'num_hidden_layers'],
    [{ n_layer: 12 }, 'n_layer'],
    [{ n_layers: 24 }, 'n_layers'],
    [{ num_layers: 28 }, 'num_layers'],
    [{ text_config: { num_hidden_layers: 34 }, vision_config: { num_hidden_layers: 27 } }, 'text_config.num_hidden_layers'],
    [{ text_config: { hidden_size: 8 }, num_hidden_layers: 3 }, 'num_hidden_layers'],
    [{ hidden_size: 8 }, null],
  ])('finds the layer count of %j at %s', (config, key) => {
    expect(findLayerCountKey(config)).toBe(key);
  });
});

describe('readConfigFacts', () => {
  it('reads a Llama config', () => {
    const facts = readConfigFacts({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: 4096,
      intermediate_size: 14336,
      vocab_size: 32000,
      num_hidden_layers: 48,
      num_attention_heads: 32,
      num_key_value_heads: 8,
      tie_word_embeddings: false,
    });
    expect(facts).toMatchObject({
      architecture: 'LlamaForCausalLM',
      modelType: 'llama',
      layerCountKey: 'num_hidden_layers',
      numLayers: 48,
      hiddenSize: 4096,
      intermediateSize: 14336,
      vocabSize: 32000,
      numAttentionHeads: 32,
      numKeyValueHeads: 8,
      tieWordEmbeddings: false,
      hasMtp: false,
    });
  });

  it('reads the GPT-2, MPT and ChatGLM aliases', () => {
    expect(readConfigFacts({ n_layer: 12, n_embd: 768, n_head: 12, n_inner: null, vocab_size: 50257 })).toMatchObject({
      layerCountKey: 'n_layer',
      hiddenSize: 768,
      numAttentionHeads: 12,
      intermediateSize: null,
      vocabSize: 50257,
    });
    expect(readConfigFacts({ n_layers: 32, d_model: 4096, n_heads: 32 })).toMatchObject({ hiddenSize: 4096, numAttentionHeads: 32 });
    expect(
      readConfigFacts({ num_layers: 28, hidden_size: 4096, ffn_hidden_size: 13696, padded_vocab_size: 65024, multi_query_group_num: 2 }),
    ).toMatchObject({ layerCountKey: 'num_layers', intermediateSize: 13696, vocabSize: 65024, numKeyValueHeads: 2 });
  });

  it('reads a multimodal config from text_config, falling back to the top level', () => {
    const facts = readConfigFacts({
      architectures: ['Gemma3ForConditionalGeneration'],
      model_type: 'gemma3',
      text_config: { model_type: 'gemma3_text', num_hidden_layers: 34, hidden_size: 2560 },
      vision_config: { hidden_size: 1152, num_hidden_layers: 27 },
      vocab_size: 262208,
    });
    expect(facts).toMatchObject({
      modelType: 'gemma3_text',
      layerCountKey: 'text_config.num_hidden_layers',
      numLayers: 34,
      hiddenSize: 2560,
      vocabSize: 262208,
    });
  });

  it('recognises DeepSeek multi-token prediction', () => {
    expect(readConfigFacts({ model_type: 'deepseek_v3', num_hidden_layers: 61 }).hasMtp).toBe(true);
    expect(readConfigFacts({ num_hidden_layers: 4, num_nextn_predict_layers: 1 })).toMatchObject({ hasMtp: true, numNextnPredictLayers: 1 });
    expect(readConfigFacts({ num_hidden_layers: 4, num_nextn_predict_layers: 0 }).hasMtp).toBe(false);
  });

  it('refuses a layer count that is not a non-negative integer', () => {
    expect(() => readConfigFacts({ num_hidden_layers: '32' }, '/models/x/config.json')).toThrowError(
      expect.objectContaining({ code: 'InvalidConfig', message: expect.stringContaining('config.json') }),
    );
    expect(() => readConfigFacts({ num_hidden_layers: -1 })).toThrowError(expect.objectContaining({ code: 'InvalidConfig' }));
  });
});

describe('getConfigPath and setConfigPath', () => {
  it('reads and writes dotted paths', () => {
    const config: Record<string, unknown> = { text_config: { num_hidden_layers: 4 }, n_layer: 2 };
    expect(getConfigPath(config, 'text_config.num_hidden_layers')).toBe(4);
    expect(getConfigPath(config, 'n_layer')).toBe(2);
    expect(getConfigPath(config, 'text_config.missing.deeper')).toBeUndefined();
    expect(getConfigPath(config, 'n_layer.deeper')).toBeUndefined();
    setConfigPath(config, 'text_config.num_hidden_layers', 8);
    setConfigPath(config, 'vision_config.num_hidden_layers', 2);
    expect(config).toEqual({ text_config: { num_hidden_layers: 8 }, n_layer: 2, vision_config: { num_hidden_layers: 2 } });
  });

  it('refuses prototype keys and walking through a non-object', () => {
    const config: Record<string, unknown> = { n_layer: 2 };
    expect(() => setConfigPath(config, '__proto__.polluted', true)).toThrowError(expect.objectContaining({ code: 'InvalidConfig' }));
    expect(() => setConfigPath(config, 'n_layer.deeper', 1)).toThrowError(expect.objectContaining({ code: 'InvalidConfig' }));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
