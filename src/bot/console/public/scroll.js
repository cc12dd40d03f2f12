/*
 * signoff console: chat scrolling. While the reader is at the bottom, the channel stays there as
 * content grows.
 */
import { $ } from './dom.js';
import { state } from './state.js';

export function wireScrolling() {
  const c = $('#channel');
  c.addEventListener('scroll', () => { state.stick = c.scrollHeight - c.scrollTop - c.clientHeight < 120; }, { passive: true });
  new ResizeObserver(() => { if (state.stick) c.scrollTop = c.scrollHeight; }).observe($('.channel-inner'));
}

export const scrollToBottom = () => { const c = $('#channel'); state.stick = true; c.scrollTop = c.scrollHeight; };
