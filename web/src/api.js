// The station's JSON API (host/review/api.h). The token lives in an HttpOnly cookie, so this
// code never sees it; a 401 sends the person back to the PIN page.
export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super([e.where, e.what].filter(Boolean).join(': ') || `HTTP ${status}`);
    this.status = status;
    this.todo = e.todo || '';
    this.retryAfter = 0;
  }
}

export async function api(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  // The station takes JSON only on every request that changes something (415 otherwise).
  if (body !== undefined || method !== 'GET') {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body === undefined ? {} : body);
  }
  const res = await fetch(path, init);
  let json = null;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  if (!res.ok) {
    const err = new ApiError(res.status, json);
    err.retryAfter = Number(res.headers.get('Retry-After') || 0);
    throw err;
  }
  return json;
}

export function describe(err) {
  if (err instanceof ApiError) return err.todo ? `${err.message} — ${err.todo}` : err.message;
  return String(err);
}
