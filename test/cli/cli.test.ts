import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StudioError } from '../../electron/api/errors.js';
import type { ExportRequest, StatsReport } from '../../electron/api/types.js';
import { main } from '../../electron/cli/cli.js';
import { createFakeHost, sampleResolved, sampleSummary, type FakeHost } from '../serve/fake-host.js';
import { memoryIo } from './memory-io.js';

let tempDir: string;
let modelDir: string;

beforeAll(async () => {
  tempDir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'dus-')));
  modelDir = path.join(tempDir, 'models', 'tiny');
  await mkdir(modelDir, { recursive: true });
  await writeFile(path.join(modelDir, 'config.json'), '{}');
});

afterAll(async () => {
  await rm(tempDir, { recursive: true, force: true });
});

async function run(argv: string[], host: FakeHost = createFakeHost(), overrides: Parameters<typeof memoryIo>[1] = {}) {
  const memory = memoryIo(host, { cwd: tempDir, ...overrides });
  const code = await main(argv, memory.io);
  return { code, stdout: memory.stdout(), stderr: memory.stderr(), host, memory };
}

describe('help, version and usage errors', () => {
  it('prints the overall help and the version with exit 0', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['inspect', 'dus', 'llama-pro', 'stack', 'merge', 'verify', 'serve']) expect(help.stdout).toContain(command);
    const version = await run(['--version']);
    expect(version).toMatchObject({ code: 0, stdout: '9.8.7\n', stderr: '' });
  });

  it('prints a command’s help', async () => {
    const help = await run(['dus', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: dus-studio dus MODEL (--drop M | --splice A:B) --out DIR');
    expect(help.stdout).toContain('--shard-size');
  });

  it('exits 2 with the error and a usage hint on a usage mistake, without starting the engine', async () => {
    for (const argv of [[], ['frobnicate'], ['dus', 'm', '--drop', '2'], ['dus', 'm', '--drop', '1', '--splice', '2:1', '--out', 'o'], ['inspect', 'm', '--frob'], ['stack', 'm', '--times', 'two', '--out', 'o']]) {
      const result = await run(argv);
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.stdout).toBe('');
      const lines = result.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^error: /);
      expect(lines[1]).toMatch(/^usage: dus-studio /);
      expect(result.memory.apiHosts).toEqual([]);
    }
  });
});

describe('errors', () => {
  it('prints one line with the path and the message for a StudioError and exits 1', async () => {
    const host = createFakeHost();
    host.fail('openCheckpoint', new StudioError('HeaderTooLarge', 'the header is larger than 100,000,000 bytes', { path: '/models/bad/model.safetensors' }));
    const result = await run(['inspect', 'bad'], host);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('error: /models/bad/model.safetensors: the header is larger than 100,000,000 bytes\n');
    expect(result.stdout).toBe('');
  });

  it('omits the path when the error has none and keeps multi-line messages on one line', async () => {
    const host = createFakeHost();
    host.fail('verifyExport', new StudioError('VerifyFailed', 'two problems:\n  one\n  two'));
    const result = await run(['verify', 'out'], host);
    expect(result).toMatchObject({ code: 1, stderr: 'error: two problems: one two\n' });
  });

  it('reports an unexpected error as an internal error without a stack', async () => {
    const host = createFakeHost();
    host.fail('openCheckpoint', new TypeError("Cannot read properties of undefined (reading 'shape')"));
    const result = await run(['inspect', 'm'], host);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("error: internal error: Cannot read properties of undefined (reading 'shape') (please report)\n");
  });
});

describe('inspect', () => {
  it('prints a human summary with a per-layer table', async () => {
    const result = await run(['inspect', 'models/tiny']);
    expect(result.code).toBe(0);
    expect(result.host.callsOf('openCheckpoint')).toEqual([{ path: modelDir }]);
    expect(result.memory.apiHosts).toEqual(['cli']);
    for (const text of ['LlamaForCausalLM', 'family llama', 'layers', 'parameters', 'F32', 'tied', 'tokenizer.json', 'config.json has no torch_dtype']) {
      expect(result.stdout).toContain(text);
    }
    expect(result.stdout).toMatch(/layer\s+parameters\s+bytes\s+tensors/);
    expect(result.stdout).toMatch(/\n\s*1\s+192\s+768 B\s+2\n/);
  });

  it('prints one JSON object with --json', async () => {
    const result = await run(['inspect', 'models/tiny', '--json']);
    expect(result.code).toBe(0);
    const json = JSON.parse(result.stdout) as Record<string, unknown>;
    const summary = sampleSummary(modelDir);
    expect(json).toMatchObject({
      architecture: 'LlamaForCausalLM',
      modelType: 'llama',
      family: 'llama',
      numLayers: 2,
      parameters: summary.parameters,
      totalBytes: summary.totalBytes,
      tiedEmbeddings: true,
      layerCountKey: 'num_hidden_layers',
      mtpLayers: [],
      warnings: ['config.json has no torch_dtype'],
    });
    const tensors = json.tensors as Record<string, unknown>[];
    expect(tensors).toHaveLength(summary.tensors.length);
    expect(tensors[1]).toEqual({ name: 'model.layers.0.self_attn.q_proj.weight', dtype: 'F32', shape: [8, 8], layer: 0, bytes: 256 });
    expect(result.host.callsOf('computeStats')).toEqual([]);
  });

  it('adds per-tensor statistics with --stats', async () => {
    const host = createFakeHost();
    const report: StatsReport = {
      checkpointId: modelDir,
      tensors: [{ name: 'model.norm.weight', elements: 8, l2: 2.5, rms: 0.88, mean: 0.5, maxAbs: 1.25, nanCount: 0, infCount: 1, sampled: false }],
      skipped: [],
      sampled: false,
      seconds: 0.5,
    };
    host.answer('computeStats', report);
    const result = await run(['inspect', 'models/tiny', '--json', '--stats'], host);
    expect(host.callsOf('computeStats')).toEqual([{ checkpointId: modelDir, sampled: false, jobId: expect.stringMatching(/^cli-[0-9a-f]{12}$/) }]);
    const tensors = (JSON.parse(result.stdout) as { tensors: Record<string, unknown>[] }).tensors;
    expect(tensors.find((tensor) => tensor.name === 'model.norm.weight')).toMatchObject({ l2: 2.5, rms: 0.88, maxAbs: 1.25, mean: 0.5, nanCount: 0, infCount: 1 });
    expect(tensors.find((tensor) => tensor.name === 'model.embed_tokens.weight')).toMatchObject({ l2: null, rms: null, maxAbs: null });
    const text = await run(['inspect', 'models/tiny', '--stats'], host);
    expect(text.stdout).toMatch(/model\.norm\.weight\s+F32\s+8\s+2\.500\s+0\.8800\s+1\.250\s+0\.5000\s+0 NaN, 1 Inf/);
  });
});

describe('plan commands', () => {
  it('runs dus: opens the model, builds the SOLAR plan, exports and prints the summary', async () => {
    const result = await run(['dus', 'models/tiny', '--drop', '1', '--out', 'out/solar', '--shard-size', '500MB', '--replace', '--dtype', 'bfloat16']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const host = result.host;
    expect(host.calls.map((call) => call.method)).toEqual(['openCheckpoint', 'buildPlan', 'resolvePlan', 'exportPlan']);
    expect(host.callsOf('buildPlan')).toEqual([{ recipe: { kind: 'dus', model: modelDir, drop: 1 } }]);
    const request = host.callsOf('exportPlan')[0] as ExportRequest;
    expect(request.exportId).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    expect(request.plan.dtype).toBe('bfloat16');
    expect(request.target).toEqual({ dir: path.join(tempDir, 'out', 'solar'), shardSize: 500_000_000, replace: true });
    expect(result.stdout).toMatch(/^wrote 2 files to .*out\/solar: 4 layers, 10 tensors, 4\.00 MB \(4,000,000 bytes\) in 2\.0 s \(2\.00 MB\/s\)\nverify: ok, 10 tensors/);
  });

  it('leaves the shard size and replace to the engine when not given', async () => {
    const result = await run(['dus', 'models/tiny', '--splice', '3:1', '--out', 'out/x']);
    expect(result.host.callsOf('buildPlan')).toEqual([{ recipe: { kind: 'splice', model: modelDir, a: 3, b: 1 } }]);
    expect((result.host.callsOf('exportPlan')[0] as ExportRequest).target).toEqual({ dir: path.join(tempDir, 'out', 'x') });
  });

  it('builds LLaMA-Pro and stacking recipes', async () => {
    const pro = await run(['llama-pro', 'models/tiny', '--every', '2', '--out', 'o']);
    expect(pro.host.callsOf('buildPlan')).toEqual([{ recipe: { kind: 'llama-pro', model: modelDir, every: 2 } }]);
    const stack = await run(['stack', 'models/tiny', '--times', '3', '--out', 'o']);
    expect(stack.host.callsOf('buildPlan')).toEqual([{ recipe: { kind: 'stack', model: modelDir, times: 3 } }]);
    expect(pro.code + stack.code).toBe(0);
  });

  it('prints the resolved plan and its YAML with --dry-run, and exports nothing', async () => {
    const host = createFakeHost();
    host.answer('planToYaml', { text: 'slices:\n- sources:\n  - model: tiny\n    layer_range: [0, 2]\nmerge_method: passthrough\n' });
    const result = await run(['dus', 'models/tiny', '--drop', '1', '--dry-run'], host);
    expect(result.code).toBe(0);
    expect(host.callsOf('exportPlan')).toEqual([]);
    expect(result.stdout).toContain('plan: 4 layers');
    expect(result.stdout).toMatch(/layers 0-1\s+<- tiny layers 0-1/);
    expect(result.stdout).toMatch(/layers 2-3\s+<- tiny layers 0-1/);
    expect(result.stdout).toContain('after output layer 1: tiny layer 1 -> tiny layer 0');
    expect(result.stdout).toContain('problems: none');
    expect(result.stdout).toContain('merge_method: passthrough');
  });

  it('stops with exit 1 on plan errors, printing each, before exporting', async () => {
    const host = createFakeHost();
    host.answer('resolvePlan', (payload) => ({
      ...sampleResolved(payload.plan),
      ok: false,
      problems: [
        { severity: 'error', code: 'RangeOutsideModel', message: 'slice 2: layer_range [0, 9] is outside the model (2 layers)', slice: 1 },
        { severity: 'warning', code: 'LayerRepeated', message: 'large jump\n  at the seam', layer: 1 },
      ],
    }));
    const result = await run(['dus', 'models/tiny', '--drop', '0', '--out', 'o'], host);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('error: slice 2: layer_range [0, 9] is outside the model (2 layers)\nwarning: large jump at the seam\n');
    expect(host.callsOf('exportPlan')).toEqual([]);
    const dry = await run(['dus', 'models/tiny', '--drop', '0', '--dry-run'], host);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toContain('error: slice 2: layer_range');
  });

  it('exits 1 when the export fails verification, printing what verify found', async () => {
    const host = createFakeHost();
    host.answer('exportPlan', (payload) => {
      const verify = {
        dir: payload.target.dir,
        ok: false,
        checkedTensors: 1,
        checkedBytes: 10,
        problems: [{ code: 'TensorBytesDiffer' as const, message: 'bytes differ', tensor: 'model.norm.weight' }],
      };
      throw new StudioError('VerifyFailed', 'the export failed verification', { path: payload.target.dir, detail: verify });
    });
    const result = await run(['stack', 'models/tiny', '--times', '2', '--out', 'o'], host);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('verify: FAILED, 1 problem');
    expect(result.stdout).toContain('TensorBytesDiffer model.norm.weight: bytes differ');
    expect(result.stderr).toMatch(/error: .*: the export failed verification \(1 problems\); nothing was written there\n$/);
  });
});

describe('merge', () => {
  it('reads the YAML and passes its folder as the base for model paths', async () => {
    const yaml = path.join(tempDir, 'configs', 'solar.yml');
    await mkdir(path.dirname(yaml), { recursive: true });
    await writeFile(yaml, 'merge_method: passthrough\n');
    const result = await run(['merge', 'configs/solar.yml', '--out', 'out/merged']);
    expect(result.code).toBe(0);
    expect(result.host.callsOf('loadPlanFile')).toEqual([{ path: yaml }]);
    expect(result.host.callsOf('exportPlan')).toHaveLength(1);
  });

  it('applies --dtype over the YAML and passes mergekit\'s --allow-crimes into the plan', async () => {
    const yaml = path.join(tempDir, 'configs', 'crimes.yml');
    await mkdir(path.dirname(yaml), { recursive: true });
    await writeFile(yaml, 'merge_method: passthrough\n');
    const result = await run(['merge', 'configs/crimes.yml', '--dtype', 'float16', '--allow-crimes', '--out', 'out/crimes']);
    expect(result.code).toBe(0);
    const [request] = result.host.callsOf('resolvePlan') as { plan: { dtype?: string; allowCrimes?: boolean } }[];
    expect(request?.plan).toMatchObject({ dtype: 'float16', allowCrimes: true });
  });

  it('prints YAML problems as error: FILE:LINE: message and exits 1', async () => {
    const yaml = path.join(tempDir, 'bad.yml');
    await writeFile(yaml, 'slices: 3\n');
    const host = createFakeHost();
    host.answer('loadPlanFile', {
      path: yaml,
      text: '',
      plan: null,
      problems: [
        { severity: 'error', code: 'InvalidYaml', message: 'slices must be a list', line: 1 },
        { severity: 'error', code: 'UnsupportedMergeOption', message: 'merge_method slerp is not passthrough' },
      ],
    });
    const result = await run(['merge', 'bad.yml', '--out', 'o'], host);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('error: bad.yml:1: slices must be a list\nerror: bad.yml: merge_method slerp is not passthrough\n');
    expect(host.callsOf('exportPlan')).toEqual([]);
  });

  it('reports a missing YAML file on one line', async () => {
    const host = createFakeHost();
    const missing = path.join(tempDir, 'missing.yml');
    host.answer('loadPlanFile', () => {
      throw new StudioError('NotFound', 'missing.yml: the YAML plan does not exist', { path: missing });
    });
    const result = await run(['merge', 'missing.yml', '--out', 'o'], host);
    expect(result).toMatchObject({ code: 1, stderr: `error: ${missing}: the YAML plan does not exist\n` });
  });
});

describe('verify', () => {
  it('prints the report and exits 0 when the export is sound', async () => {
    const result = await run(['verify', 'out/solar']);
    expect(result.code).toBe(0);
    expect(result.host.callsOf('verifyExport')).toEqual([{ dir: path.join(tempDir, 'out', 'solar') }]);
    expect(result.stdout).toContain('verify: ok, 3 tensors and 1.20 kB checked');
  });

  it('exits 1 and lists the problems when it is not', async () => {
    const host = createFakeHost();
    host.answer('verifyExport', (payload) => ({
      dir: payload.dir,
      ok: false,
      checkedTensors: 2,
      checkedBytes: 8,
      problems: [{ code: 'MissingShard', message: 'shard is missing', file: 'model-00002-of-00002.safetensors' }],
    }));
    const result = await run(['verify', 'out/solar', '--json'], host);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, problems: [{ code: 'MissingShard' }] });
    expect(result.stderr).toBe(`error: ${path.join(tempDir, 'out', 'solar')}: the export failed verification (1 problem)\n`);
  });
});

function exportWithProgress(host: FakeHost, steps: number): void {
  host.answer('exportPlan', async (payload) => {
    const progress = (exportId: string, doneBytes: number, totalBytes: number) =>
      ({ jobId: exportId, kind: 'export', progress: { exportId, phase: 'copying', doneBytes, totalBytes } }) as const;
    for (let step = 0; step <= steps; step++) {
      host.emit('jobProgress', progress(payload.exportId, step * 100, steps * 100));
      // Another export's events must not move this bar.
      host.emit('jobProgress', progress('other', 1, 1_000_000));
    }
    host.emit('jobEnd', { jobId: payload.exportId, kind: 'export', outcome: 'done' });
    return { ...((await createFakeHost().exportPlan(payload)) as object), exportId: payload.exportId } as Awaited<ReturnType<FakeHost['exportPlan']>>;
  });
}

describe('export progress', () => {
  it('draws a progress bar on stderr when it is a terminal, throttled to about ten redraws a second', async () => {
    const host = createFakeHost();
    exportWithProgress(host, 50);
    let clock = 0;
    // Each reading advances 10 ms: 51 updates span about half a second, so about 6 redraws.
    const now = (): number => (clock += 10);
    const result = await run(['dus', 'models/tiny', '--drop', '1', '--out', 'o'], host, { isTTY: true, now, columns: 120 });
    expect(result.code).toBe(0);
    const redraws = result.stderr.split('\r').filter((part) => part.includes('copying'));
    expect(redraws.length).toBeGreaterThanOrEqual(3);
    expect(redraws.length).toBeLessThanOrEqual(10);
    expect(result.stderr).toContain('%');
    expect(result.stderr).not.toContain('1.00 MB');
    expect(result.stdout).toMatch(/^wrote /);
  });

  it('prints nothing but the final summary when stderr is not a terminal', async () => {
    const host = createFakeHost();
    exportWithProgress(host, 50);
    const result = await run(['dus', 'models/tiny', '--drop', '1', '--out', 'o'], host, { isTTY: false });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).not.toContain('\r');
    expect(result.stdout.trimEnd().split('\n')).toHaveLength(2);
  });
});

describe('Ctrl-C during an export', () => {
  it('cancels the export, waits for its cleanup and exits 130', async () => {
    const host = createFakeHost();
    const events: string[] = [];
    let started!: () => void;
    const exportStarted = new Promise<void>((resolve) => (started = resolve));
    let cancel!: () => void;
    const cancelled = new Promise<void>((resolve) => (cancel = resolve));
    host.answer('exportPlan', async () => {
      started();
      await cancelled;
      // The engine removes its partial output before the call settles.
      await new Promise((resolve) => setTimeout(resolve, 20));
      events.push('cleaned up');
      throw new StudioError('Cancelled', 'the export was cancelled');
    });
    host.answer('cancelJob', () => {
      events.push('cancelJob');
      cancel();
    });
    const memory = memoryIo(host, { cwd: tempDir });
    const exit = main(['dus', 'models/tiny', '--drop', '1', '--out', 'o'], memory.io).then((code) => {
      events.push('exit');
      return code;
    });
    await exportStarted;
    expect(memory.sigintListeners()).toBe(1);
    memory.sigint();
    expect(await exit).toBe(130);
    expect(events).toEqual(['cancelJob', 'cleaned up', 'exit']);
    const exportId = (host.callsOf('exportPlan')[0] as ExportRequest).exportId;
    expect(host.callsOf('cancelJob')).toEqual([{ jobId: exportId }]);
    expect(memory.stderr()).toContain('export cancelled');
    expect(memory.stderr()).not.toContain('error:');
    expect(memory.sigintListeners()).toBe(0);
  });

  it('stops listening for Ctrl-C once the export is over', async () => {
    const result = await run(['dus', 'models/tiny', '--drop', '1', '--out', 'o']);
    expect(result.code).toBe(0);
    expect(result.memory.sigintListeners()).toBe(0);
    expect(result.host.callsOf('cancelJob')).toEqual([]);
  });
});

describe('serve', () => {
  async function untilFirstLine(read: () => string): Promise<string> {
    await expect.poll(() => read().includes('\n'), { timeout: 10_000 }).toBe(true);
    return read().split('\n')[0] ?? '';
  }

  it('prints the URL first, opens --open paths, serves until Ctrl-C and then closes', async () => {
    const host = createFakeHost();
    const staticDir = path.join(tempDir, 'renderer');
    await mkdir(staticDir, { recursive: true });
    await writeFile(path.join(staticDir, 'index.html'), '<title>DUS Studio</title>');
    const memory = memoryIo(host, { cwd: tempDir, rendererDir: staticDir });
    const exit = main(['serve', '--open', 'models/tiny'], memory.io);
    const url = await untilFirstLine(memory.stdout);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{43}$/);
    expect(memory.apiHosts).toEqual(['serve']);
    expect(host.callsOf('openCheckpoint')).toEqual([{ path: modelDir }]);
    expect(await (await fetch(url)).text()).toContain('DUS Studio');
    const token = new URL(url).searchParams.get('token') ?? '';
    const info = await fetch(new URL('/api/call/appInfo', url), { method: 'POST', headers: { 'X-DUS-Token': token }, body: 'null' });
    expect(((await info.json()) as { value: { roots: string[] } }).value.roots).toEqual([modelDir]);
    memory.sigint();
    expect(await exit).toBe(0);
    await expect(fetch(url)).rejects.toThrow();
    expect(memory.stderr()).toContain('stopped');
  });

  it('warns loudly and names the real address when --allow-remote serves every interface (issue 13)', async () => {
    const memory = memoryIo(createFakeHost(), { cwd: tempDir, rendererDir: tempDir });
    const exit = main(['serve', '--host', '0.0.0.0', '--allow-remote', '--open', 'models/tiny'], memory.io);
    await untilFirstLine(memory.stdout);
    await expect.poll(() => memory.stderr(), { timeout: 10_000 }).toMatch(/WARNING: listening on 0\.0\.0\.0:\d+ serves every network/);
    expect(memory.stderr()).toContain('plain HTTP');
    memory.sigint();
    expect(await exit).toBe(0);
  });

  it('refuses an --open path outside explicit --root folders', async () => {
    const result = await run(['serve', '--root', 'configs', '--open', 'models/tiny']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: .*models\/tiny: The checkpoint is outside the folders this server may open/);
    expect(result.stdout).toBe('');
  });
});
