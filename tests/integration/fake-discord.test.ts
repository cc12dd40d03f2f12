/**
 * The fake Discord (tests/helpers/fake-discord.ts) proven against the REAL discord.js: a Client
 * logging in over the gateway, interactions of every kind answered through the real interaction
 * classes, channel messages with files, threads, command registration, and REST faults.
 */
import { once } from 'node:events';
import {
  ActionRowBuilder,
  ButtonBuilder,
  ButtonStyle,
  ChannelType,
  Client,
  DiscordAPIError,
  EmbedBuilder,
  Events,
  GatewayIntentBits,
  GuildMember,
  HTTPError,
  MessageFlags,
  ModalBuilder,
  REST,
  Routes,
  SlashCommandBuilder,
  TextInputBuilder,
  TextInputStyle,
  type ClientOptions,
  type Interaction,
  type TextChannel,
} from 'discord.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ALICE_ID,
  APP_ID,
  APPROVER_ROLE_ID,
  BOB_ID,
  BOT_ID,
  CAROL_ID,
  CHANNEL_ID,
  COMMAND_ID,
  EDITOR_ROLE_ID,
  FakeDiscord,
  GUILD_ID,
  type FakeDiscordOptions,
} from '../helpers/fake-discord.js';
import { waitFor } from '../helpers/wait.js';

let fake: FakeDiscord;
let client: Client | undefined;
const handlerErrors: unknown[] = [];

beforeEach(async () => {
  fake = await FakeDiscord.start();
});

afterEach(async () => {
  // The client first: a client whose gateway vanishes keeps reconnecting.
  await client?.destroy();
  client = undefined;
  await fake.close();
  await fake.close(); // safe twice
  expect(fake.internalErrors).toEqual([]);
  expect(handlerErrors.splice(0)).toEqual([]);
});

function restOptions(extra: Partial<NonNullable<ClientOptions['rest']>> = {}): ClientOptions['rest'] {
  return { api: fake.apiUrl, retries: 1, timeout: 5000, ...extra };
}

/** A real discord.js Client logged in to the fake, after its clientReady event. */
async function connect(options: Partial<ClientOptions> = {}): Promise<Client<true>> {
  const c = new Client({ intents: [GatewayIntentBits.Guilds], rest: restOptions(), allowedMentions: { parse: [], repliedUser: false }, ...options });
  client = c;
  const ready = once(c, Events.ClientReady);
  await c.login('Bot-token-test');
  await ready;
  return c as Client<true>;
}

/** Runs `fn` on every interaction; its failures fail the test (in afterEach). */
function onInteraction(c: Client, fn: (i: Interaction) => Promise<void>): void {
  c.on(Events.InteractionCreate, (i) => {
    fn(i).catch((error: unknown) => handlerErrors.push(error));
  });
}

function channelOf(c: Client): TextChannel {
  const channel = c.channels.cache.get(CHANNEL_ID);
  if (!channel || channel.type !== ChannelType.GuildText) throw new Error('the test channel is not cached');
  return channel;
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: number | string; status?: number }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: number | string; status?: number };
  }
  throw new Error('expected a rejection');
}

describe('login over the gateway', () => {
  it('fetches /gateway/bot, identifies with the Guilds intent, and caches the guild, channel and roles', async () => {
    const c = await connect();
    await fake.ready();
    expect(fake.callsTo('GET', '/gateway/bot')).toHaveLength(1);
    // discord.js strips a leading "Bot" from the token it is given, even without a space.
    expect(fake.identifies).toEqual([expect.objectContaining({ intents: GatewayIntentBits.Guilds, compress: false, token: '-token-test', shard: [0, 1] })]);
    expect(fake.callsTo('GET', '/gateway/bot')[0]?.authorization).toBe('Bot -token-test');

    expect(c.user.id).toBe(BOT_ID);
    expect(c.application.id).toBe(APP_ID);
    const guild = c.guilds.cache.get(GUILD_ID);
    expect(guild?.available).toBe(true);
    expect(guild?.roles.cache.get(APPROVER_ROLE_ID)?.name).toBe('Approvers');
    expect(guild?.roles.everyone.id).toBe(GUILD_ID);
    expect(guild?.members.me?.id).toBe(BOT_ID);
    const channel = channelOf(c);
    expect(channel.guildId).toBe(GUILD_ID);
    expect(channel.isTextBased()).toBe(true);
    expect(fake.gatewayReady).toBe(true);
  });

  it('answers heartbeats with op 11', async () => {
    const c = await connect();
    fake.requestHeartbeat(); // the client answers a requested heartbeat at once
    await waitFor(() => fake.stats.heartbeats >= 1 && c.ws.ping >= 0, 'a heartbeat acknowledged');
  });

  it('rejects a wrong token like Discord (401 on /gateway/bot)', async () => {
    await fake.close();
    fake = await FakeDiscord.start({ expectedToken: 'right-token' } satisfies FakeDiscordOptions);
    const c = new Client({ intents: [GatewayIntentBits.Guilds], rest: restOptions() });
    client = c;
    const error = await rejection(c.login('wrong-token'));
    expect(error.message).toMatch(/token/i);
    expect(fake.callsTo('GET', '/gateway/bot')[0]?.status).toBe(401);
  });

  it('resumes after a 4000 close, replaying what was missed; identifies again after a 1000 close', async () => {
    const c = await connect();
    await fake.disconnectGateway(4000);
    // Sent while the client is away: replayed on RESUME.
    fake.addRole({ id: '1200000000000000399', name: 'Late role' });
    await waitFor(() => fake.stats.resumes === 1 && fake.gatewayReady, 'a RESUME');
    await waitFor(() => c.guilds.cache.get(GUILD_ID)?.roles.cache.has('1200000000000000399'), 'the missed role event');
    expect(fake.gatewayMessages.filter((m) => m.op === 6)).toHaveLength(1);

    fake.requestReconnect(); // op 7: the client closes and resumes
    await waitFor(() => fake.stats.resumes === 2 && fake.gatewayReady, 'a second RESUME');

    await fake.disconnectGateway(1000); // discord.js drops the session and identifies anew (after its ≤ 6.5 s identify throttle)
    await fake.ready({ count: 2 });
    expect(fake.identifies).toHaveLength(2);
    onInteraction(c, async (i) => {
      if (i.isChatInputCommand()) await i.reply({ content: 'still here', flags: MessageFlags.Ephemeral });
    });
    expect((await fake.dispatchInteraction(fake.slashCommand({ subcommand: 'help' }))).type).toBe(4);
  });
});

describe('gateway events by intent', () => {
  it('sends MESSAGE_CREATE for the bot\'s posts only to a client that asked for GuildMessages', async () => {
    const c = await connect({ intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages] });
    expect(fake.identifies[0]?.intents).toBe(GatewayIntentBits.Guilds | GatewayIntentBits.GuildMessages);
    const created = once(c, Events.MessageCreate);
    const sent = await channelOf(c).send('hello');
    const [message] = (await created) as [{ id: string; guildId: string | null; author: { id: string } }];
    expect(message).toMatchObject({ id: sent.id, guildId: GUILD_ID, author: expect.objectContaining({ id: BOT_ID }) });
  });
});

describe('interactions through the real interaction classes', () => {
  it('a slash command is a ChatInputCommandInteraction with its subcommand, options, user and roles; reply ephemeral → type 4, flags 64', async () => {
    const c = await connect();
    const seen: Record<string, unknown> = {};
    onInteraction(c, async (i) => {
      if (!i.isChatInputCommand()) throw new Error(`unexpected interaction type ${i.type}`);
      seen.command = i.commandName;
      seen.commandId = i.commandId;
      seen.sub = i.options.getSubcommand();
      seen.pipeline = i.options.getString('pipeline');
      seen.job = i.options.getInteger('job');
      seen.urgent = i.options.getBoolean('urgent');
      seen.user = i.user.id;
      seen.display = i.user.globalName ?? i.user.username;
      seen.channel = i.channelId;
      seen.isGuildMember = i.member instanceof GuildMember;
      // A cached guild makes `member` a GuildMember: its roles.cache keeps only roles the guild
      // knows, and always adds @everyone (= the guild id).
      seen.roles = i.inCachedGuild() ? [...i.member.roles.cache.keys()].sort() : undefined;
      await i.reply({ content: 'Submitted job 1', ephemeral: true });
    });
    const callback = await fake.dispatchInteraction(
      fake.slashCommand({ subcommand: 'submit', options: { pipeline: 'demo', job: 3, urgent: true }, user: BOB_ID, roles: [APPROVER_ROLE_ID, '1299999999999999999'] }),
    );
    expect(seen).toEqual({
      command: 'signoff',
      commandId: COMMAND_ID,
      sub: 'submit',
      pipeline: 'demo',
      job: 3,
      urgent: true,
      user: BOB_ID,
      display: 'Bob',
      channel: CHANNEL_ID,
      isGuildMember: true,
      roles: [APPROVER_ROLE_ID, GUILD_ID].sort(),
    });
    expect(callback).toMatchObject({ type: 4, accepted: true, withResponse: false, data: { content: 'Submitted job 1', flags: MessageFlags.Ephemeral } });
    expect(callback.data?.allowed_mentions).toEqual({ parse: [], replied_user: false });
    expect(fake.calls.find((x) => x.path.startsWith('/interactions/'))?.authorization).toBeUndefined();
    expect(fake.ephemeralReplies).toEqual([expect.objectContaining({ content: 'Submitted job 1', channel_id: CHANNEL_ID, interaction_metadata: expect.objectContaining({ user: expect.objectContaining({ id: BOB_ID }) }) })]);
    expect(fake.messagesIn(CHANNEL_ID)).toEqual([]); // ephemeral replies are not in the channel
  });

  it('deferReply (ephemeral) + editReply edit the "thinking" message; a followUp after it posts anew', async () => {
    const c = await connect();
    onInteraction(c, async (i) => {
      if (!i.isChatInputCommand()) return;
      await i.deferReply({ flags: MessageFlags.Ephemeral });
      const edited = await i.editReply({ content: 'Job 1: running' });
      await i.followUp({ content: 'one more thing', flags: MessageFlags.Ephemeral });
      expect(edited.content).toBe('Job 1: running');
    });
    const payload = fake.slashCommand({ subcommand: 'status', options: { job: 1 } });
    const callback = await fake.dispatchInteraction(payload);
    expect(callback).toMatchObject({ type: 5, data: { flags: MessageFlags.Ephemeral } });
    const record = fake.interactions.get(String(payload.id))!;
    await waitFor(() => record.followupIds.length === 1, 'the follow-up');
    expect(fake.callsTo('PATCH', `/webhooks/${APP_ID}/${String(payload.token)}/messages/@original`)).toHaveLength(1);
    const original = fake.messages.get(record.originalMessageId!)!;
    expect(original).toMatchObject({ content: 'Job 1: running', flags: MessageFlags.Ephemeral });
    expect(fake.messages.get(record.followupIds[0]!)).toMatchObject({ content: 'one more thing', flags: MessageFlags.Ephemeral });
    expect(fake.ephemeralReplies.map((m) => m.content)).toEqual(['Job 1: running', 'one more thing']);
  });

  it('the first followUp after deferReply replaces the "thinking" message instead of posting', async () => {
    const c = await connect();
    onInteraction(c, async (i) => {
      if (!i.isChatInputCommand()) return;
      await i.deferReply();
      await i.followUp({ content: 'done' });
    });
    const payload = fake.slashCommand({ subcommand: 'list' });
    await fake.dispatchInteraction(payload);
    const record = fake.interactions.get(String(payload.id))!;
    await waitFor(() => fake.callsTo('POST', `/webhooks/${APP_ID}/`)[0]?.status === 200, 'the follow-up');
    expect(record.followupIds).toEqual([]);
    expect(fake.messagesIn(CHANNEL_ID)).toEqual([expect.objectContaining({ id: record.originalMessageId, content: 'done', flags: 0 })]);
  });

  it('reply({ withResponse: true }) gets the callback response with the message', async () => {
    const c = await connect();
    const got: unknown[] = [];
    onInteraction(c, async (i) => {
      if (!i.isChatInputCommand()) return;
      const response = await i.reply({ content: 'hello', withResponse: true });
      got.push(response.interaction.responseMessageId, response.resource?.message?.content);
    });
    const callback = await fake.dispatchInteraction(fake.slashCommand({ subcommand: 'pipelines' }));
    expect(callback.withResponse).toBe(true);
    await waitFor(() => got.length === 2, 'the response');
    expect(got[1]).toBe('hello');
    expect(fake.messages.has(String(got[0]))).toBe(true);
  });

  it('autocomplete: the focused value is a string even for an integer option; respond → type 8', async () => {
    const c = await connect();
    const seen: unknown[] = [];
    onInteraction(c, async (i) => {
      if (!i.isAutocomplete()) return;
      const focused = i.options.getFocused(true);
      seen.push(i.options.getSubcommand(), focused.name, focused.value, i.options.getString('pipeline'));
      await i.respond([{ name: 'Job 12', value: 12 }]);
    });
    const callback = await fake.dispatchInteraction(fake.autocomplete({ subcommand: 'approve', options: { pipeline: 'demo' }, focused: 'job', focusedType: 4, value: '1' }));
    expect(seen).toEqual(['approve', 'job', '1', 'demo']);
    expect(callback).toMatchObject({ type: 8, data: { choices: [{ name: 'Job 12', value: 12 }] } });
  });

  it('a button on a posted message: deferUpdate → type 6, then editReply edits that message', async () => {
    const c = await connect();
    const row = new ActionRowBuilder<ButtonBuilder>().addComponents(
      new ButtonBuilder().setCustomId('gate:1:script:approve').setLabel('Approve').setStyle(ButtonStyle.Success),
      new ButtonBuilder().setCustomId('gate:1:script:reject').setLabel('Reject').setStyle(ButtonStyle.Danger),
    );
    const card = await channelOf(c).send({ content: 'Gate: script', components: [row] });
    const seen: unknown[] = [];
    onInteraction(c, async (i) => {
      if (!i.isButton()) return;
      seen.push(i.customId, i.message.id, i.user.id, i.inCachedGuild() && i.member.roles.cache.has(APPROVER_ROLE_ID));
      await i.deferUpdate();
      await i.editReply({ content: 'Gate: script, approved by Carol', components: [] });
    });
    const callback = await fake.dispatchInteraction(fake.button({ custom_id: 'gate:1:script:approve', message: card.id, user: CAROL_ID, roles: [APPROVER_ROLE_ID] }));
    expect(callback.type).toBe(6);
    expect(seen).toEqual(['gate:1:script:approve', card.id, CAROL_ID, true]);
    await waitFor(() => fake.editsOf(card.id) === 1, 'the edit');
    expect(fake.messages.get(card.id)).toMatchObject({ content: 'Gate: script, approved by Carol', components: [] });
  });

  it('update() on a button → type 7 changes the message in place', async () => {
    const c = await connect();
    const row = new ActionRowBuilder<ButtonBuilder>().addComponents(new ButtonBuilder().setCustomId('hold').setLabel('Hold').setStyle(ButtonStyle.Secondary));
    const card = await channelOf(c).send({ content: 'Gate', components: [row] });
    onInteraction(c, async (i) => {
      if (i.isButton()) await i.update({ content: 'Held', components: [] });
    });
    const callback = await fake.dispatchInteraction(fake.button({ custom_id: 'hold', message: card.id }));
    expect(callback).toMatchObject({ type: 7, data: { content: 'Held', components: [] } });
    expect(fake.messages.get(card.id)).toMatchObject({ content: 'Held', components: [] });
  });

  it('showModal → type 9; the modal submission parses fields.getTextInputValue and carries the button message', async () => {
    const c = await connect();
    const card = await channelOf(c).send({
      content: 'Gate',
      components: [new ActionRowBuilder<ButtonBuilder>().addComponents(new ButtonBuilder().setCustomId('reject').setLabel('Reject').setStyle(ButtonStyle.Danger))],
    });
    const seen: unknown[] = [];
    onInteraction(c, async (i) => {
      if (i.isButton()) {
        const modal = new ModalBuilder()
          .setCustomId('reject-modal:1:script')
          .setTitle('Reject script')
          .addComponents(new ActionRowBuilder<TextInputBuilder>().addComponents(new TextInputBuilder().setCustomId('reason').setLabel('Reason').setStyle(TextInputStyle.Paragraph).setRequired(true)));
        await i.showModal(modal);
      } else if (i.isModalSubmit()) {
        seen.push(i.customId, i.fields.getTextInputValue('reason'), i.message?.id, i.user.id);
        await i.reply({ content: 'Rejected', flags: MessageFlags.Ephemeral });
      }
    });
    const shown = await fake.dispatchInteraction(fake.button({ custom_id: 'reject', message: card.id, user: CAROL_ID }));
    expect(shown).toMatchObject({ type: 9, data: { custom_id: 'reject-modal:1:script', title: 'Reject script' } });
    const submitted = await fake.dispatchInteraction(fake.modalSubmit({ custom_id: 'reject-modal:1:script', fields: { reason: 'too long' }, user: CAROL_ID }));
    expect(submitted).toMatchObject({ type: 4, data: { content: 'Rejected', flags: MessageFlags.Ephemeral } });
    expect(seen).toEqual(['reject-modal:1:script', 'too long', card.id, CAROL_ID]);
  });

  it('an expired interaction token refuses editReply with 50027 (after 15 minutes, edit the channel message instead)', async () => {
    const c = await connect();
    const held: Interaction[] = [];
    onInteraction(c, async (i) => {
      if (!i.isChatInputCommand()) return;
      await i.deferReply({ flags: MessageFlags.Ephemeral });
      held.push(i);
    });
    const payload = fake.slashCommand({ subcommand: 'status', options: { job: 1 } });
    await fake.dispatchInteraction(payload);
    await waitFor(() => held.length === 1, 'the deferred interaction');
    fake.expireInteraction(String(payload.id));
    const interaction = held[0]!;
    if (!interaction.isChatInputCommand()) throw new Error('unreachable');
    const error = await rejection(interaction.editReply('too late'));
    expect(error).toBeInstanceOf(DiscordAPIError);
    expect(error.code).toBe(50027);
  });

  it('a replayed interaction (same id and token) is refused 40060 on its second callback', async () => {
    const c = await connect();
    const errors: unknown[] = [];
    onInteraction(c, async (i) => {
      if (i.isChatInputCommand()) await i.reply({ content: 'ok', flags: MessageFlags.Ephemeral }).catch((e: unknown) => void errors.push(e));
    });
    const payload = fake.slashCommand({ subcommand: 'help' });
    expect((await fake.dispatchInteraction(payload)).accepted).toBe(true);
    fake.sendInteraction(payload);
    const second = await fake.nextCallback(String(payload.id), { after: 1 });
    expect(second.accepted).toBe(false);
    await waitFor(() => errors.length === 1, 'the refused reply');
    expect(errors[0]).toBeInstanceOf(DiscordAPIError);
    expect((errors[0] as DiscordAPIError).code).toBe(40060);
  });
});

describe('channel messages, files and threads', () => {
  it('channel.send with embeds, components and a file stores the message and the bytes; message.edit updates it', async () => {
    const c = await connect();
    const bytes = Buffer.from('# Outline\nBees, mostly.\n');
    const sent = await channelOf(c).send({
      content: 'Job 1 <@&1200000000000000301> @everyone',
      embeds: [new EmbedBuilder().setTitle('Job 1').setDescription('running').addFields({ name: 'Stage', value: 'outline' })],
      components: [new ActionRowBuilder<ButtonBuilder>().addComponents(new ButtonBuilder().setCustomId('x').setLabel('X').setStyle(ButtonStyle.Primary))],
      files: [{ attachment: bytes, name: 'outline.md' }],
    });
    const call = fake.callsTo('POST', `/channels/${CHANNEL_ID}/messages`)[0]!;
    // discord.js names each upload by index only (`attachments: [{ id: '0' }]` ↔ the part `files[0]`).
    expect(call.body).toMatchObject({ content: 'Job 1 <@&1200000000000000301> @everyone', allowed_mentions: { parse: [], replied_user: false }, attachments: [{ id: '0' }] });
    expect(call.files).toEqual([expect.objectContaining({ field: 'files[0]', name: 'outline.md', bytes })]);
    const stored = fake.messages.get(sent.id)!;
    expect(stored).toMatchObject({ channel_id: CHANNEL_ID, author: expect.objectContaining({ id: BOT_ID, bot: true }), embeds: [expect.objectContaining({ title: 'Job 1', type: 'rich' })] });
    expect(fake.filesOf(sent.id)).toEqual([expect.objectContaining({ name: 'outline.md', bytes })]);
    // discord.js parsed the answer into a real Message with its Attachment.
    expect(sent.author.id).toBe(BOT_ID);
    expect(sent.embeds[0]?.title).toBe('Job 1');
    expect(sent.attachments.first()).toMatchObject({ name: 'outline.md', size: bytes.length });
    const downloaded = Buffer.from(await (await fetch(sent.attachments.first()!.url)).arrayBuffer());
    expect(downloaded.equals(bytes)).toBe(true);

    const edited = await sent.edit({ content: 'Job 1 done', embeds: [] });
    expect(edited.editedTimestamp).not.toBeNull();
    expect(fake.messages.get(sent.id)).toMatchObject({ content: 'Job 1 done', embeds: [], attachments: [expect.objectContaining({ filename: 'outline.md' })] });
    expect(fake.editsOf(sent.id)).toBe(1);
    expect(fake.messagesIn(CHANNEL_ID).map((m) => m.id)).toEqual([sent.id]);
  });

  it('message.startThread makes a thread with the message id; thread.send posts into it; a second thread is refused', async () => {
    const c = await connect();
    const root = await channelOf(c).send('Job 1');
    const thread = await root.startThread({ name: 'Job 1: A film about bees' });
    expect(thread.id).toBe(root.id);
    expect(thread.parentId).toBe(CHANNEL_ID);
    expect(thread.type).toBe(ChannelType.PublicThread);
    expect(c.channels.cache.get(thread.id)).toBe(thread);
    expect(fake.callsTo('POST', `/channels/${CHANNEL_ID}/messages/${root.id}/threads`)).toHaveLength(1);
    expect(fake.threads).toEqual([expect.objectContaining({ id: root.id, name: 'Job 1: A film about bees', parent_id: CHANNEL_ID, type: 11 })]);

    const reply = await thread.send({ content: 'Stage outline done', files: [{ attachment: Buffer.from('x'), name: 'a.txt' }] });
    expect(reply.channelId).toBe(thread.id);
    expect(fake.messagesIn(thread.id).map((m) => m.content)).toEqual(['Stage outline done']);
    expect(fake.messagesIn(CHANNEL_ID).map((m) => m.id)).toEqual([root.id]);
    expect(fake.messages.get(root.id)?.thread).toMatchObject({ id: root.id });

    const again = await rejection(c.rest.post(Routes.threads(CHANNEL_ID, root.id), { body: { name: 'again' } }));
    expect(again).toBeInstanceOf(DiscordAPIError);
    expect(again.code).toBe(160004);

    const loose = await channelOf(c).threads.create({ name: 'Loose thread' });
    expect(fake.callsTo('POST', `/channels/${CHANNEL_ID}/threads`)).toHaveLength(1);
    expect(loose.type).toBe(ChannelType.PublicThread);
    expect((await c.channels.fetch(loose.id, { force: true }))?.id).toBe(loose.id);
  });

  it('answers Discord\'s validation errors: 50035 for a too-long message, 50006 for an empty one, 10008 for an unknown message', async () => {
    const c = await connect();
    const long = await rejection(channelOf(c).send('x'.repeat(2001)));
    expect(long).toBeInstanceOf(DiscordAPIError);
    expect(long.code).toBe(50035);
    expect(long.message).toContain('content[BASE_TYPE_MAX_LENGTH]');
    const empty = await rejection(c.rest.post(Routes.channelMessages(CHANNEL_ID), { body: {} }));
    expect(empty.code).toBe(50006);
    const unknown = await rejection(c.rest.patch(Routes.channelMessage(CHANNEL_ID, '1'), { body: { content: 'x' } }));
    expect(unknown.code).toBe(10008);
    const route = await rejection(c.rest.get('/nowhere'));
    expect(route).toMatchObject({ status: 404, code: 0 });
    expect(fake.callsTo('GET', '/nowhere')).toHaveLength(1);
  });
});

describe('REST faults, as discord.js meets them', () => {
  it('a 429 on a message POST is retried after retry_after and the message appears once', async () => {
    const c = await connect();
    fake.failNext('POST', `/channels/${CHANNEL_ID}/messages`, { status: 429, retryAfter: 0.2 });
    const sent = await channelOf(c).send('after the limit');
    const calls = fake.callsTo('POST', `/channels/${CHANNEL_ID}/messages`);
    expect(calls.map((x) => x.status)).toEqual([429, 200]);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(180);
    expect(fake.messagesIn(CHANNEL_ID).map((m) => m.id)).toEqual([sent.id]);
    expect(fake.stats.rateLimited).toBe(1);
  });

  it('a global 429 holds every request for retry_after', async () => {
    const c = await connect();
    fake.failNext('GET', `/channels/${CHANNEL_ID}`, { status: 429, retryAfter: 0.3, global: true });
    const started = Date.now();
    await c.rest.get(Routes.channel(CHANNEL_ID));
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(fake.callsTo('GET', `/channels/${CHANNEL_ID}`).map((x) => x.status)).toEqual([429, 200]);
  });

  it('the per-channel limit paces posts through the X-RateLimit headers', async () => {
    const c = await connect();
    fake.channelRateLimit = { limit: 2, windowMs: 300 };
    const started = Date.now();
    for (let n = 0; n < 5; n += 1) await channelOf(c).send(`post ${n}`);
    expect(fake.messagesIn(CHANNEL_ID)).toHaveLength(5);
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
  });

  it('a 500 is retried once (retries: 1); two in a row surface as HTTPError', async () => {
    const c = await connect();
    fake.failNext('POST', `/channels/${CHANNEL_ID}/messages`, { status: 500 });
    await channelOf(c).send('second try');
    expect(fake.messagesIn(CHANNEL_ID)).toHaveLength(1);
    fake.failNext('POST', /^\/channels\/\d+\/messages$/, { status: 502 }, 2);
    const error = await rejection(channelOf(c).send('no luck'));
    expect(error).toBeInstanceOf(HTTPError);
    expect(error.status).toBe(502);
    expect(fake.callsTo('POST', `/channels/${CHANNEL_ID}/messages`).map((x) => x.status)).toEqual([500, 200, 502, 502]);
    expect(fake.stats.serverErrors).toBe(3);
  });

  it('an answer slower than the REST timeout is retried, and the late request still lands: a duplicate', async () => {
    const c = await connect({ rest: restOptions({ timeout: 300 }) });
    fake.failNext('POST', `/channels/${CHANNEL_ID}/messages`, { hangMs: 800 });
    await channelOf(c).send('maybe twice');
    await waitFor(() => fake.messagesIn(CHANNEL_ID).length === 2, 'the late post');
    expect(fake.stats.hung).toBe(1);
  });

  it('a lost answer (connection closed after the post) is NOT retried by discord.js: an error although the message exists', async () => {
    const c = await connect();
    fake.failNext('POST', `/channels/${CHANNEL_ID}/messages`, { lose: true });
    const error = await rejection(channelOf(c).send('posted, answer lost'));
    expect(error.message).toMatch(/other side closed|socket/i);
    expect(fake.messagesIn(CHANNEL_ID).map((m) => m.content)).toEqual(['posted, answer lost']);
    expect(fake.stats.lost).toBe(1);
  });

  it('faultRate is deterministic for a seed and spares /gateway/bot', async () => {
    const rest = new REST({ api: fake.apiUrl, retries: 0, timeout: 2000 }).setToken('token');
    const run = async () => {
      fake.faultRate = { rate: 0.5, kinds: [{ status: 500 }], seed: 7 };
      const outcomes: boolean[] = [];
      for (let n = 0; n < 12; n += 1) outcomes.push(await rest.get(Routes.channel(CHANNEL_ID)).then(() => true, () => false));
      await rest.get(Routes.gatewayBot());
      return outcomes;
    };
    const first = await run();
    const second = await run();
    expect(second).toEqual(first);
    expect(first).toContain(true);
    expect(first).toContain(false);
    fake.faultRate = undefined;
  });
});

describe('command registration', () => {
  it('stores a guild bulk overwrite, keeps ids on re-registration, and refuses an invalid command', async () => {
    const c = await connect();
    const command = new SlashCommandBuilder()
      .setName('signoff')
      .setDescription('Pipelines with sign-off')
      .addSubcommand((s) => s.setName('status').setDescription('Show a job').addIntegerOption((o) => o.setName('job').setDescription('Job id').setRequired(true).setAutocomplete(true)));
    const answer = (await c.rest.put(Routes.applicationGuildCommands(APP_ID, GUILD_ID), { body: [command.toJSON()] })) as { id: string; name: string; guild_id: string }[];
    expect(answer).toEqual([expect.objectContaining({ name: 'signoff', guild_id: GUILD_ID, application_id: APP_ID })]);
    expect(fake.commands.get(GUILD_ID)?.[0]).toMatchObject({ name: 'signoff', options: [expect.objectContaining({ name: 'status', type: 1 })] });
    const again = (await c.rest.put(Routes.applicationGuildCommands(APP_ID, GUILD_ID), { body: [command.toJSON()] })) as { id: string }[];
    expect(again[0]?.id).toBe(answer[0]?.id);
    expect(((await c.rest.get(Routes.applicationGuildCommands(APP_ID, GUILD_ID))) as unknown[]).length).toBe(1);
    // Interactions now carry the registered command's id.
    expect((fake.slashCommand({ subcommand: 'status' }).data as { id: string }).id).toBe(answer[0]?.id);

    const invalid = await rejection(c.rest.put(Routes.applicationCommands(APP_ID), { body: [{ name: 'Bad Name', description: '' }] }));
    expect(invalid.code).toBe(50035);
    const wrongApp = await rejection(c.rest.put(Routes.applicationGuildCommands(BOT_ID, GUILD_ID), { body: [] }));
    expect(wrongApp.code).toBe(20012);
  });
});

describe('payload builders', () => {
  it('build realistic interactions: unique ids and tokens, member with roles, channel, guild-install owners', () => {
    const a = fake.slashCommand({ subcommand: 'submit', options: { brief: 'x' }, user: ALICE_ID, roles: [EDITOR_ROLE_ID] });
    const b = fake.slashCommand({ subcommand: 'submit' });
    expect(a.id).not.toBe(b.id);
    expect(a.token).not.toBe(b.token);
    expect(a).toMatchObject({
      type: 2,
      application_id: APP_ID,
      guild_id: GUILD_ID,
      channel_id: CHANNEL_ID,
      channel: { id: CHANNEL_ID, type: 0, guild_id: GUILD_ID },
      member: { user: { id: ALICE_ID, username: 'alice', discriminator: '0', global_name: 'Alice' }, roles: [EDITOR_ROLE_ID], permissions: '0' },
      version: 1,
      entitlements: [],
      authorizing_integration_owners: { '0': GUILD_ID },
      context: 0,
      data: { name: 'signoff', type: 1, options: [{ type: 1, name: 'submit', options: [{ name: 'brief', type: 3, value: 'x' }] }] },
    });
    expect(a).not.toHaveProperty('user'); // guild interactions carry member.user only
  });
});
