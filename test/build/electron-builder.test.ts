import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const repository = path.resolve(import.meta.dirname, '../..');
const configPath = path.join(repository, 'build', 'electron-builder.yml');

interface BuilderConfig {
  appId?: string;
  productName?: string;
  npmRebuild?: boolean;
  asarUnpack?: string[];
  files?: string[];
  extraResources?: { from: string; to: string }[];
  directories?: { output?: string };
  linux?: { target?: string[]; icon?: string };
  mac?: { target?: string[]; icon?: string };
  win?: { target?: string[]; icon?: string };
  electronFuses?: Record<string, boolean>;
}

function readConfig(): BuilderConfig {
  return parse(readFileSync(configPath, 'utf8')) as BuilderConfig;
}

/** electron-builder's own schema check, loaded from the installed electron-builder's app-builder-lib. */
function builderValidation(): (config: unknown) => Promise<void> {
  const fromBuilder = createRequire(createRequire(import.meta.url).resolve('electron-builder'));
  const libRequire = createRequire(fromBuilder.resolve('app-builder-lib'));
  const { validateConfiguration } = libRequire('./util/config/config.js') as {
    validateConfiguration(config: unknown, logger: unknown): Promise<void>;
  };
  const { DebugLogger } = libRequire('builder-util') as { DebugLogger: new (enabled: boolean) => unknown };
  return (config) => validateConfiguration(config, new DebugLogger(false));
}

describe('build/electron-builder.yml', () => {
  it('never rebuilds native modules and unpacks the addon from the asar', () => {
    const config = readConfig();
    expect(config.npmRebuild).toBe(false);
    expect(config.asarUnpack).toContain('native/build/Release/*.node');
    expect(config.files).toEqual(expect.arrayContaining(['out/**', 'native/build/Release/dus_native.node', 'package.json']));
  });

  it('names the product and ships AppImage, deb, dmg and NSIS into dist-app', () => {
    const config = readConfig();
    expect(config.productName).toBe('DUS Studio');
    expect(config.appId).toMatch(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/);
    expect(config.linux?.target).toEqual(['AppImage', 'deb']);
    expect(config.mac?.target).toEqual(['dmg']);
    expect(config.win?.target).toEqual(['nsis']);
    expect(config.directories?.output).toBe('dist-app');
  });

  it('ships the demo model as real files where the engine looks in a packaged app', () => {
    const config = readConfig();
    expect(config.extraResources).toEqual([expect.objectContaining({ from: 'build/demo', to: 'demo' })]);
    expect(existsSync(path.join(repository, 'build', 'demo', 'stories260K', 'config.json'))).toBe(true);
  });

  it('points at icons that exist and turns off Node-style entry points in the packaged binary', () => {
    const config = readConfig();
    for (const icon of [config.linux?.icon, config.mac?.icon, config.win?.icon]) {
      expect(icon).toBeDefined();
      expect(existsSync(path.join(repository, icon ?? ''))).toBe(true);
    }
    expect(config.electronFuses).toMatchObject({ runAsNode: false, enableNodeOptionsEnvironmentVariable: false, onlyLoadAppFromAsar: true });
  });

  it("passes electron-builder's own configuration schema", async () => {
    const validate = builderValidation();
    await expect(validate(readConfig())).resolves.toBeUndefined();
    await expect(validate({ ...readConfig(), npmRebuilt: false })).rejects.toThrow(/unknown property 'npmRebuilt'/);
  });
});
