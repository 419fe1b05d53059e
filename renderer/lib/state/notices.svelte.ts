/** A button a notice offers: the way back from what it reports ("Undo"). */
export interface NoticeAction {
  label: string;
  run: () => void;
}

/** Messages for the user (failed opens, export errors, a replaced plan), shown in a live region until dismissed. */
export interface Notice {
  id: number;
  kind: 'error' | 'info';
  message: string;
  action?: NoticeAction;
}

/** How long a piece of news (info) stays; errors stay until dismissed. */
export const INFO_NOTICE_MS = 20_000;
/** News notices shown at once: they push the workspace down, so older news goes first. */
const MAX_INFO_NOTICES = 2;

export class NoticesState {
  items = $state.raw<Notice[]>([]);
  #nextId = 1;

  push(message: string, kind: Notice['kind'] = 'error', action?: NoticeAction): number {
    const id = this.#nextId++;
    let items = [...this.items, { id, kind, message, ...(action ? { action } : {}) }];
    const news = items.filter((item) => item.kind === 'info');
    if (news.length > MAX_INFO_NOTICES) {
      const dropped = new Set(news.slice(0, news.length - MAX_INFO_NOTICES).map((item) => item.id));
      items = items.filter((item) => !dropped.has(item.id));
    }
    this.items = items.slice(-5);
    if (kind === 'info') setTimeout(() => this.dismiss(id), INFO_NOTICE_MS);
    return id;
  }

  dismiss(id: number): void {
    this.items = this.items.filter((notice) => notice.id !== id);
  }

  /** Runs a notice's action; the notice has then said what it had to and goes. */
  act(id: number): void {
    const notice = this.items.find((item) => item.id === id);
    this.dismiss(id);
    notice?.action?.run();
  }
}
