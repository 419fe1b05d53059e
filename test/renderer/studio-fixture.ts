import { render, type RenderResult } from '@testing-library/svelte';
import type { Component } from 'svelte';
import { StudioSession, STUDIO_SESSION_KEY, type StudioSessionOptions } from '../../renderer/lib/state/studio-session.svelte.js';
import { createFakeStudio, type FakeStudio, type FakeStudioOptions } from './fake-studio.js';

/**
 * A session over the fake host, started like the app starts (demo opened, DUS plan, statistics),
 * and a render helper that hands it to a component through context.
 */
export async function startedSession(
  options: { fake?: FakeStudioOptions; session?: StudioSessionOptions; waitForStats?: boolean } = {},
): Promise<{ host: FakeStudio; session: StudioSession }> {
  const host = createFakeStudio(options.fake);
  const session = new StudioSession(host, { planDebounceMs: 0, ...options.session });
  await session.start();
  await session.plan.whenSettled();
  if (options.waitForStats ?? true) await statsSettled(session);
  return { host, session };
}

/** Waits until no checkpoint is computing statistics; the bound (under the renderer tests' 20 s) only catches a hang. */
export async function statsSettled(session: StudioSession, timeoutMs = 15_000): Promise<void> {
  const started = Date.now();
  while (session.checkpoints.list.some((checkpoint) => session.checkpoints.statsStatus[checkpoint.id]?.running !== false)) {
    if (Date.now() - started > timeoutMs) throw new Error('statistics did not finish');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function renderWithSession(component: Component, session: StudioSession): RenderResult<Component> {
  return render(component, { props: {}, context: new Map([[STUDIO_SESSION_KEY, session]]) });
}

/**
 * jsdom has no PointerEvent, so testing-library would fire plain Events without clientY or
 * pointerId. A MouseEvent with the pointer fields is what the canvas reads.
 */
export function installPointerEvent(): void {
  if (typeof window.PointerEvent === 'function') return;
  class TestPointerEvent extends MouseEvent {
    readonly pointerId: number;
    readonly pointerType: string;
    constructor(type: string, init: PointerEventInit = {}) {
      super(type, init);
      this.pointerId = init.pointerId ?? 1;
      this.pointerType = init.pointerType ?? 'mouse';
    }
  }
  window.PointerEvent = TestPointerEvent as unknown as typeof PointerEvent;
}
