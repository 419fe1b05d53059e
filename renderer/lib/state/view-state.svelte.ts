import type { NormMetric } from '../stats/layer-norms.js';

/** A layer on the canvas: an output layer by index, or a source layer by checkpoint id and index. */
export type LayerRef = { column: 'output'; index: number } | { column: 'source'; model: string; index: number };

export type BottomTab = 'norms' | 'heatmap' | 'similarity' | 'evaluate' | 'yaml' | 'problems' | 'export';

export type ThemeChoice = 'system' | 'light' | 'dark';

/**
 * What the user is looking at, shared by the canvas, the inspector and the tabs: selection, hover,
 * the open tab, the chart metric, a YAML line to point at, the colour theme.
 */
export class ViewState {
  selected = $state.raw<LayerRef | null>(null);
  hovered = $state.raw<LayerRef | null>(null);
  selectedSlice = $state<number | null>(null);
  tab = $state<BottomTab>('norms');
  metric = $state<NormMetric>('l2');
  yamlLine = $state<number | null>(null);
  theme = $state<ThemeChoice>('system');
  fileBrowser = $state.raw<{ purpose: 'open' | 'export-target' } | null>(null);
  /** The folder the Open dialog was last in (the parent of a model it opened): where it opens next. */
  lastFolder = $state<string | null>(null);
  /** The checkpoint the user just opened: its card is highlighted and scrolled into view. */
  justOpened = $state<string | null>(null);

  /** The layer the inspector shows: the hovered one while hovering, else the selected one. */
  focused = $derived(this.hovered ?? this.selected);

  selectLayer(layer: LayerRef | null): void {
    this.selected = layer;
  }

  hover(layer: LayerRef | null): void {
    this.hovered = layer;
  }

  selectSlice(slice: number | null): void {
    this.selectedSlice = slice;
  }

  showTab(tab: BottomTab): void {
    this.tab = tab;
  }

  pointAtYamlLine(line: number | null): void {
    this.yamlLine = line;
    if (line !== null) this.tab = 'yaml';
  }

  /** system → the other of the current look → system … so one button reaches all three. */
  cycleTheme(systemIsDark: boolean): void {
    if (this.theme === 'system') this.theme = systemIsDark ? 'light' : 'dark';
    else this.theme = 'system';
  }

  openFileBrowser(purpose: 'open' | 'export-target'): void {
    this.fileBrowser = { purpose };
  }

  closeFileBrowser(): void {
    this.fileBrowser = null;
  }
}

export function sameLayer(left: LayerRef | null, right: LayerRef | null): boolean {
  if (left === null || right === null) return left === right;
  if (left.column !== right.column || left.index !== right.index) return false;
  return left.column === 'output' || (right.column === 'source' && left.model === right.model);
}
