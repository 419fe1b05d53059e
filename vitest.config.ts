import { svelte } from '@sveltejs/vite-plugin-svelte';
import { svelteTesting } from '@testing-library/svelte/vite';
import { defineConfig } from 'vitest/config';

// Two projects: the engine and front doors under plain Node, and the Svelte renderer under jsdom.
// Forks, not threads: the native addon and the export tests use real files and child processes.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          include: ['test/**/*.test.ts'],
          exclude: ['test/renderer/**', 'node_modules/**'],
          environment: 'node',
          pool: 'forks',
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        plugins: [svelte({ compilerOptions: { runes: true } }), svelteTesting()],
        test: {
          name: 'renderer',
          environment: 'jsdom',
          include: ['test/renderer/**/*.test.ts'],
          // Other CSS stays empty in tests; app.css is read as text where a test checks its colours.
          css: { include: [/renderer\/src\/app\.css/] },
          testTimeout: 20_000,
        },
      },
    ],
  },
});
