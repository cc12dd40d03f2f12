/**
 * The App Home tab: when a person opens it, signoff publishes the gates waiting for them
 * (`views.publish`); from then on the notifier publishes it again whenever a gate changes.
 * Needs the `app_home_opened` bot event and `features.app_home.home_tab_enabled` (see
 * conf/slack-manifest.yaml).
 */
import type { App } from '@slack/bolt';
import type { SlackReach } from './reach.js';

export function registerHomeTab(app: App, reach: SlackReach): void {
  app.event('app_home_opened', async ({ event }) => {
    if (event.tab !== 'home') return;
    await reach.homeOpened(event.user);
  });
}
