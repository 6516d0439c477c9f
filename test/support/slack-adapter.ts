/**
 * Our Slack adapter pointed at a fake Slack (test/fakes/slack.ts): HTTP event
 * delivery on a free loopback port, the fake's tokens and signing secret.
 * Callers add what their test needs (tuning, streaming mode, a logger).
 */
import { createSlackAdapter, type SlackAdapter, type SlackAdapterOptions } from '../../gateway/slack/index.js';
import type { FakeSlack } from '../fakes/slack.js';

export function slackAdapterOn(slack: FakeSlack, options: Partial<SlackAdapterOptions> = {}): SlackAdapter {
  return createSlackAdapter({
    botToken: slack.botToken,
    signingSecret: slack.signingSecret,
    apiUrl: slack.apiUrl,
    mode: 'http',
    port: 0,
    host: '127.0.0.1',
    ...options,
  });
}
