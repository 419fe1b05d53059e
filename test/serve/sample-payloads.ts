/** One valid payload per API method, for the schema and binder tests. */
import type { StudioMethod, StudioPayload } from '../../electron/api/studio-api.js';

export function validPayloads(root = '/models'): { [M in StudioMethod]: StudioPayload<M> } {
  const model = `${root}/tiny`;
  const plan = {
    slices: [
      { model, start: 0, end: 2 },
      { model, start: 1, end: 2, scale: [{ filter: 'o_proj', value: 0 }, { value: 1 }] },
    ],
    dtype: 'bfloat16',
    chatTemplate: 'chatml',
    mtp: 'move' as const,
  };
  return {
    appInfo: undefined,
    openCheckpoint: { path: model },
    listCheckpoints: undefined,
    closeCheckpoint: { id: model },
    computeStats: { checkpointId: model, sampled: true },
    layerSimilarity: { checkpointA: model, checkpointB: `${root}/other`, kind: 'q', sampled: true },
    buildPlan: { recipe: { kind: 'dus', model, drop: 1 } },
    resolvePlan: { plan },
    planFromYaml: { text: 'merge_method: passthrough\n', baseDir: root },
    loadPlanFile: { path: `${root}/plan.yml` },
    planToYaml: { plan },
    exportPlan: { exportId: 'export-1', plan, target: { dir: `${root}/out`, shardSize: 5_000_000_000, replace: true } },
    cancelJob: { jobId: 'export-1' },
    verifyExport: { dir: `${root}/out` },
    evaluatePlan: { jobId: 'eval-1', plan, textPath: `${root}/text.txt`, maxTokens: 64, prompt: 'Once', compareSource: true, device: 'cpu' },
    sweepSplices: { jobId: 'sweep-1', model, range: { kind: 'grid', aFrom: 1, aTo: 2, bFrom: 0, bTo: 1 }, textPath: `${root}/text.txt` },
    browse: { dir: root },
  };
}
