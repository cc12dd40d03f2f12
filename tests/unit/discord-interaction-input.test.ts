/**
 * Raw Discord interaction payloads (as the HTTP endpoint receives them) read into the shared
 * flow's input, and the response JSON each answer becomes. Pure: plain values in and out.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readEnv } from '../../src/config/env.js';
import { interactionResponse } from '../../src/bot/discord/interaction-flow.js';
import { identityFromPayload, interactionFromPayload } from '../../src/bot/discord/interaction-input.js';

const member = { user: { id: '1001', username: 'bob', global_name: 'Bob' }, roles: ['2002'] };

describe('interactionFromPayload', () => {
  it('reads a slash command with its subcommand and typed options', () => {
    const input = interactionFromPayload({
      id: '9', type: 2, channel_id: '300', member,
      data: { name: 'signoff', options: [{ type: 1, name: 'approve', options: [{ name: 'job', type: 4, value: 12 }, { name: 'stage', type: 3, value: 'script' }] }] },
    });
    expect(input).toMatchObject({ kind: 'command', id: '9', channel: '300', name: 'signoff', subcommand: 'approve', who: { platform: 'discord', user: '1001', display: 'Bob', roles: ['2002'] } });
    if (input?.kind !== 'command') throw new Error('not a command');
    expect([input.options.integer('job'), input.options.string('stage'), input.options.string('job'), input.options.integer('missing')]).toEqual([12, 'script', null, null]);
  });

  it('reads a button, a modal submitted as labels or as rows, an autocomplete and a PING', () => {
    expect(interactionFromPayload({ id: '9', type: 3, member, data: { custom_id: 'sg:a:1:script:1', component_type: 2 } })).toMatchObject({ kind: 'button', customId: 'sg:a:1:script:1' });
    const labels = { custom_id: 'sg:reject:1:script:1', components: [{ type: 18, id: 1, component: { type: 4, id: 2, custom_id: 'reason', value: 'Too long' } }] };
    const rows = { custom_id: 'sg:reject:1:script:1', components: [{ type: 1, components: [{ type: 4, custom_id: 'reason', value: 'Too short' }] }] };
    expect(interactionFromPayload({ id: '9', type: 5, member, data: labels })).toMatchObject({ kind: 'modal', reason: 'Too long' });
    expect(interactionFromPayload({ id: '9', type: 5, member, data: rows })).toMatchObject({ kind: 'modal', reason: 'Too short' });
    expect(interactionFromPayload({ id: '9', type: 5, member, data: { custom_id: 'x', components: [] } })).toMatchObject({ kind: 'modal', reason: null });
    const auto = { id: '9', type: 4, member, data: { name: 'signoff', options: [{ type: 1, name: 'approve', options: [{ name: 'job', type: 4, value: 3 }, { name: 'stage', type: 3, value: 'sc', focused: true }] }] } };
    expect(interactionFromPayload(auto)).toEqual({ kind: 'autocomplete', focused: { name: 'stage', value: 'sc' }, job: 3 });
    expect(interactionFromPayload({ type: 1 })).toEqual({ kind: 'ping' });
  });

  it('a DM click names the user without roles; malformed payloads are not interactions', () => {
    expect(identityFromPayload({ user: { id: '1001', username: 'bob' } })).toEqual({ platform: 'discord', user: '1001', display: 'bob', roles: [] });
    for (const bad of [null, [], 'x', { type: 3 }, { id: 'abc', type: 3, member }, { id: '9', type: 3 }, { id: '9', type: 3, member: { user: { id: '<@1>' } } }])
      expect(interactionFromPayload(bad)).toBeUndefined();
    expect(interactionFromPayload({ id: '9', type: 99, member })).toEqual({ kind: 'other', id: '9' });
  });
});

describe('interactionFromPayload on anything', () => {
  it('never throws, and what it reads has an id and a person (pings and autocomplete aside)', () => {
    const near = fc.record({
      id: fc.oneof(fc.string(), fc.constantFrom('1', '99999'), fc.integer()),
      type: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.anything()),
      member: fc.oneof(fc.anything(), fc.record({ user: fc.record({ id: fc.oneof(fc.string(), fc.constant('1001')) }), roles: fc.anything() })),
      data: fc.oneof(fc.anything(), fc.record({ name: fc.anything(), custom_id: fc.anything(), options: fc.anything(), components: fc.anything() })),
    }, { requiredKeys: [] });
    fc.assert(fc.property(fc.oneof(fc.jsonValue(), fc.anything(), near), (payload) => {
      const input = interactionFromPayload(payload);
      if (input && input.kind !== 'ping' && input.kind !== 'autocomplete') {
        expect(input.id).toMatch(/^\d{1,25}$/);
        if (input.kind !== 'other') expect(input.who.user).toMatch(/^\d{1,25}$/);
      }
    }), { numRuns: 2000 });
  });
});

describe('interactionResponse', () => {
  it('maps each answer to the interaction response type Discord expects, private texts flagged ephemeral', () => {
    expect(interactionResponse({ kind: 'pong' })).toEqual({ type: 1 });
    expect(interactionResponse({ kind: 'update' })).toEqual({ type: 6 });
    expect(interactionResponse({ kind: 'choices', choices: [{ name: 'demo', value: 'demo' }] })).toEqual({ type: 8, data: { choices: [{ name: 'demo', value: 'demo' }] } });
    expect(interactionResponse({ kind: 'private', message: { content: 'no', allowed_mentions: { parse: [] } } })).toEqual({ type: 4, data: { content: 'no', allowed_mentions: { parse: [] }, flags: 64 } });
    expect(interactionResponse({ kind: 'replayed' })).toMatchObject({ type: 4, data: { flags: 64, allowed_mentions: { parse: [] } } });
  });
});

describe('DISCORD_PUBLIC_KEY in the environment', () => {
  const base = { DISCORD_TOKEN: 'fake-discord-bot-token-0123456789', DISCORD_APPLICATION_ID: '12345678' };
  it('is 64 hex characters, kept lower-case, and needs the bot token', () => {
    expect(readEnv({ ...base, DISCORD_PUBLIC_KEY: 'AB'.repeat(32) }).discord?.publicKey).toBe('ab'.repeat(32));
    expect(readEnv(base).discord?.publicKey).toBeUndefined();
    expect(() => readEnv({ ...base, DISCORD_PUBLIC_KEY: 'xyz' })).toThrow(/DISCORD_PUBLIC_KEY is the application's Public Key/);
    expect(() => readEnv({ DISCORD_PUBLIC_KEY: 'ab'.repeat(32) })).toThrow(/DISCORD_PUBLIC_KEY is set but DISCORD_TOKEN is not/);
  });
});
