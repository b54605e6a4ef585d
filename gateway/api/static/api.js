// The local API from the browser: the token, REST calls and the event WebSocket.

const TOKEN_KEY = "gateway.token";
// The event stream's subprotocol; the token rides along as a second one (browsers cannot
// set headers on a WebSocket), and the server picks the first.
const PROTOCOL = "gateway.events.v1";

export class Unauthorized extends Error {}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function savedToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function saveToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

// One REST call with the bearer token; the parsed JSON reply.
export async function call(token, method, path, body) {
  const init = {
    method,
    headers: { Authorization: `Bearer ${token}` },
    cache: "no-store",
    credentials: "omit",
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const reply = await fetch(path, init);
  if (reply.status === 401) throw new Unauthorized("the token was refused");
  let data = null;
  try {
    data = await reply.json();
  } catch (_) {
    data = null;
  }
  if (!reply.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(reply.status, err.code || "http_" + reply.status,
      err.message || reply.statusText);
  }
  return data;
}

// The event stream: calls onEvent(msg) per JSON message and onState(open) on changes.
// Reconnects with a growing delay until stop() is called.
export function openEvents(token, onEvent, onState) {
  let socket = null;
  let stopped = false;
  let delay = 1000;
  let timer = null;

  function connect() {
    if (stopped) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/api/v1/events`;
    try {
      socket = new WebSocket(url, [PROTOCOL, `bearer.${token}`]);
    } catch (_) {
      retry();
      return;
    }
    socket.onopen = () => {
      delay = 1000;
      onState(true);
    };
    socket.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      if (msg && typeof msg.type === "string") onEvent(msg);
    };
    socket.onclose = () => {
      onState(false);
      retry();
    };
    socket.onerror = () => {};
  }

  function retry() {
    if (stopped) return;
    timer = setTimeout(connect, delay);
    delay = Math.min(delay * 2, 30000);
  }

  connect();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      if (socket) socket.close();
    },
  };
}

// An NDJSON stream (GET with the token): calls onItem(obj) per line until the server ends
// it or `signal` aborts. Resolves when the stream ends; rejects like call() on errors.
export async function follow(token, path, onItem, signal) {
  const reply = await fetch(path, {
    headers: { Authorization: `Bearer ${token}` },
    cache: "no-store",
    credentials: "omit",
    signal,
  });
  if (reply.status === 401) throw new Unauthorized("the token was refused");
  if (!reply.ok || !reply.body) throw new ApiError(reply.status, `http_${reply.status}`, reply.statusText);
  const reader = reply.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, end).trim();
      buffer = buffer.slice(end + 1);
      if (line) onItem(JSON.parse(line));
    }
  }
}
