import type { Attachment } from 'svelte/attachments';

/**
 * An attachment that reports an element's client size now and whenever it changes. Where there is
 * no ResizeObserver (jsdom, very old engines) it reports nothing and the component keeps its
 * fallback size, instead of failing as `bind:clientWidth` would.
 */
export function measureSize(onSize: (width: number, height: number) => void): Attachment<HTMLElement> {
  return (element) => {
    if (typeof ResizeObserver === 'undefined') return;
    const report = () => onSize(element.clientWidth, element.clientHeight);
    const observer = new ResizeObserver(report);
    observer.observe(element);
    report();
    return () => observer.disconnect();
  };
}
