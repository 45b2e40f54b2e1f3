/**
 * The least-privilege ACL rule the README documents, as `ACL SETUSER` arguments: keys and
 * channels of the prefix only, and only the commands the module runs.
 */
export const ACL_COMMANDS = [
  '@connection',
  'get',
  'set',
  'del',
  'unlink',
  'exists',
  'pttl',
  'pexpire',
  'evalsha',
  'eval',
  'script|load',
  'publish',
  'subscribe',
  'unsubscribe',
  'spublish',
  'ssubscribe',
  'sunsubscribe',
  'ping',
  'info',
  'client|setname',
  'time',
  'scan',
  'wait',
] as const;

/** `~<prefix>:* resetchannels &<prefix>:* -@all +…` for `ACL SETUSER`. */
export function aclRule(prefix: string): string[] {
  return [
    `~${prefix}:*`,
    'resetchannels',
    `&${prefix}:*`,
    '-@all',
    ...ACL_COMMANDS.map((c) => `+${c}`),
  ];
}

/** The subset of ioredis an admin connection needs here. */
interface Admin {
  call(command: string, ...args: string[]): Promise<unknown>;
}

/**
 * Creates an ACL user restricted to {@link aclRule} for `prefix` on the server `admin` talks to;
 * resolves with a URL that logs in as it (based on `baseUrl`) and a function that deletes it.
 */
export async function createAclUser(
  admin: Admin,
  baseUrl: string,
  prefix: string,
): Promise<{ url: string; username: string; remove(): Promise<void> }> {
  const username = `app-${prefix}`;
  const password = `pw-${prefix}`;
  await admin.call('ACL', 'SETUSER', username, 'reset', 'on', `>${password}`, ...aclRule(prefix));
  const url = new URL(baseUrl);
  url.username = username;
  url.password = password;
  return {
    url: url.toString(),
    username,
    remove: async () => void (await admin.call('ACL', 'DELUSER', username)),
  };
}

/** What `ACL LOG` recorded against `username`: every command, key or channel it was denied. */
export async function aclDenials(admin: Admin, username: string): Promise<string[]> {
  const entries = (await admin.call('ACL', 'LOG', '1000')) as unknown[][];
  return entries
    .map((entry) => {
      const fields = new Map<string, unknown>();
      for (let i = 0; i < entry.length; i += 2) fields.set(String(entry[i]), entry[i + 1]);
      return fields;
    })
    .filter((fields) => fields.get('username') === username)
    .map(
      (f) => `${String(f.get('reason'))} ${String(f.get('object'))} (${String(f.get('context'))})`,
    );
}
