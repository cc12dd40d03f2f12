/**
 * A database URL as it may be shown: the password blotted out (`postgres://user:***@host/db`),
 * also when it is given as a `password=` query parameter.
 */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    if (u.searchParams.has('password')) u.searchParams.set('password', '***');
    return u.toString().replace('password=%2A%2A%2A', 'password=***');
  } catch {
    // Not a URL `new URL` understands: blot anything between "user:" and "@" and any password parameter.
    return url.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@').replace(/(password=)[^&]*/gi, '$1***');
  }
}
