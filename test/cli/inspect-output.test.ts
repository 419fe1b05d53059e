import { describe, expect, it } from 'vitest';
import type { StatsReport } from '../../electron/api/types.js';
import { formatTable, inspectJson, inspectText } from '../../electron/cli/inspect-output.js';
import { sampleSummary } from '../serve/fake-host.js';

describe('inspectJson', () => {
  it('has the documented fields and one entry per tensor', () => {
    const summary = sampleSummary('/models/tiny');
    const json = inspectJson(summary);
    expect(Object.keys(json)).toEqual(
      expect.arrayContaining(['architecture', 'modelType', 'family', 'numLayers', 'parameters', 'totalBytes', 'tiedEmbeddings', 'layerCountKey', 'mtpLayers', 'warnings', 'tensors']),
    );
    expect(json.tensors.map((tensor) => tensor.name)).toEqual(summary.tensors.map((tensor) => tensor.name));
    expect(Object.keys(json.tensors[0] ?? {})).toEqual(['name', 'dtype', 'shape', 'layer', 'bytes']);
    expect(json.stats).toBeUndefined();
  });

  it('turns statistics that JSON cannot hold into null', () => {
    const summary = sampleSummary('/models/tiny');
    const stats: StatsReport = {
      checkpointId: summary.id,
      tensors: [{ name: 'model.norm.weight', elements: 8, l2: Number.NaN, rms: Number.POSITIVE_INFINITY, mean: 0, maxAbs: 1, nanCount: 2, infCount: 0, sampled: false }],
      skipped: ['model.embed_tokens.weight'],
      sampled: false,
      seconds: 1,
    };
    const parsed = JSON.parse(JSON.stringify(inspectJson(summary, stats))) as ReturnType<typeof inspectJson>;
    expect(parsed.tensors.find((tensor) => tensor.name === 'model.norm.weight')).toMatchObject({ l2: null, rms: null, maxAbs: 1, nanCount: 2 });
    expect(parsed.stats).toEqual({ sampled: false, skipped: ['model.embed_tokens.weight'], seconds: 1 });
  });
});

describe('inspectText', () => {
  it('marks multi-token-prediction layers and lists every warning', () => {
    const summary = sampleSummary('/models/deepseek');
    summary.mtpLayers = [2];
    summary.layers.push({ index: 2, parameters: 10, bytes: 40, tensorNames: ['eh_proj.weight'], isMtp: true });
    summary.warnings = ['first warning', 'second warning'];
    const text = inspectText(summary);
    expect(text).toContain('MTP layer 2');
    expect(text).toMatch(/\n2 \(MTP\)\s+10\s+40 B\s+1\n/);
    expect(text).toMatch(/warnings\s+first warning\n\s+second warning\n/);
  });

  it('says when a checkpoint has no config', () => {
    const summary = { ...sampleSummary('/models/bare'), architecture: null, modelType: null, configNumLayers: null, layerCountKey: null };
    expect(inspectText(summary)).toContain('unknown (no config.json)');
    expect(inspectText(summary)).toContain('no layer count in config.json');
  });
});

describe('formatTable', () => {
  it('aligns the first column left and the others right', () => {
    expect(formatTable(['name', 'n'], [['a', '1'], ['bbb', '100']])).toBe('name    n\na       1\nbbb   100');
  });
});
