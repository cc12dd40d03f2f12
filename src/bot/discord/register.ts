/**
 * `signoff discord-register` (npm run discord:register): registers /signoff with its
 * subcommands, in one guild when DISCORD_GUILD_ID is set (instant) or globally (may take up to
 * an hour to appear). A bulk overwrite, so running it again changes nothing.
 */
import { REST, Routes, type RESTOptions } from 'discord.js';
import type { DiscordSettings } from '../../config/env.js';
import type { Config } from '../../config/schema.js';
import { signoffCommand } from './commands.js';

export async function registerCommands(settings: DiscordSettings, config: Config): Promise<string> {
  const rest = new REST({ ...(settings.apiUrl ? { api: settings.apiUrl } : {}), retries: 2, makeRequest: fetch as unknown as RESTOptions['makeRequest'] }).setToken(settings.token);
  const body = [signoffCommand(Object.keys(config.pipelines))];
  const route = settings.guildId ? Routes.applicationGuildCommands(settings.applicationId, settings.guildId) : Routes.applicationCommands(settings.applicationId);
  await rest.put(route, { body });
  return settings.guildId ? `Registered /signoff in guild ${settings.guildId}.` : 'Registered /signoff globally (it can take up to an hour to appear everywhere).';
}
