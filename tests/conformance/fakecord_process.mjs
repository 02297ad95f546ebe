// Starts g-fakecord on a free port for a conformance test and talks to its admin API.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';

export async function startFakecord(binary, args) {
  const proc = spawn(binary, ['--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout });
  const [line] = await once(lines, 'line');
  const m = /listening on wss?:\/\/[^/]+:(\d+)\//.exec(line);
  if (!m) {
    proc.kill();
    throw new Error(`g-fakecord did not start: ${line}`);
  }
  const base = `http://127.0.0.1:${m[1]}`;
  const admin = async (method, path, body) => {
    const res = await fetch(`${base}/_fakecord/${path}`, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  return {
    base,
    api: `${base}/api`,
    get: (path) => admin('GET', path),
    post: (path, body) => admin('POST', path, body),
    stop: () => proc.kill('SIGTERM'),
  };
}

// Resolves when `predicate` returns a truthy value for an event, or rejects after `ms`.
export function waitFor(emitter, event, predicate = () => true, ms = 60000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, handler);
      reject(new Error(`timed out waiting for ${event}`));
    }, ms);
    function handler(...args) {
      if (!predicate(...args)) return;
      clearTimeout(timer);
      emitter.off(event, handler);
      resolve(args);
    }
    emitter.on(event, handler);
  });
}

export const shardOf = (guildId, count) => Number((BigInt(guildId) >> 22n) % BigInt(count));
