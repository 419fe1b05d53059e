/** Messages for the user (failed opens, export errors), shown in a live region until dismissed. */
export interface Notice {
  id: number;
  kind: 'error' | 'info';
  message: string;
}

export class NoticesState {
  items = $state.raw<Notice[]>([]);
  #nextId = 1;

  push(message: string, kind: Notice['kind'] = 'error'): number {
    const id = this.#nextId++;
    this.items = [...this.items, { id, kind, message }].slice(-5);
    return id;
  }

  dismiss(id: number): void {
    this.items = this.items.filter((notice) => notice.id !== id);
  }
}
