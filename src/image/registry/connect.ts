/** A registry client for a domain, with the user's saved credentials (docker login's file). */
import { getCredentials } from './credentials.js';
import { RegistryClient } from './client.js';

export const USER_AGENT = 'hull/0.1';

export async function clientFor(domain: string): Promise<RegistryClient> {
  const credentials = await getCredentials(domain);
  return new RegistryClient({ domain, userAgent: USER_AGENT, ...(credentials ? { credentials } : {}) });
}

/** Verify credentials against the registry (Basic or token realm) without saving them. */
export async function checkLogin(domain: string, username: string, password: string): Promise<void> {
  const client = new RegistryClient({ domain, userAgent: USER_AGENT });
  await client.login(username, password);
}
