/**
 * The chat page: joins `chat:lobby` under a display name and shows messages, members and the
 * connection state. User text reaches the DOM only through `textContent`, never as markup.
 */
import { connect } from '/switchboard/client/index.js';
import { sse } from '/switchboard/sse/index.js';

// WebSocket first; SSE + HTTP when a proxy blocks it. One for the page: the choice is remembered.
const transport = sse();

const TOPIC = 'chat:lobby';
/** Mirrors the server's checks so the user hears why at once instead of after a round trip. */
const MAX_NAME_LENGTH = 32;
const MAX_TEXT_LENGTH = 500;
/** Older lines are dropped so a long-open tab does not grow without bound. */
const MAX_LINES = 1000;
const STATE_LABELS = {
  idle: 'not connected',
  connecting: 'connecting…',
  open: 'online',
  reconnecting: 'reconnecting…',
  closed: 'offline',
};

const $ = (id) => document.getElementById(id);
const ui = {
  state: $('state'),
  leave: $('leave'),
  joinForm: $('join-form'),
  name: $('name'),
  join: $('join'),
  error: $('error'),
  chat: $('chat'),
  log: $('log'),
  messages: $('messages'),
  members: $('members'),
  memberCount: $('member-count'),
  sendForm: $('send-form'),
  text: $('text'),
};

/** The current visit: `{ client, sub, name, opened }`, or undefined while the name form shows. */
let session;

function showState(state, detail) {
  ui.state.dataset.state = state;
  ui.state.textContent = detail ? `${STATE_LABELS[state]} (${detail})` : STATE_LABELS[state];
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = false;
}

function span(className, text) {
  const el = document.createElement('span');
  el.className = className;
  el.textContent = text;
  return el;
}

function displayName(member) {
  const name = member.info?.name;
  return typeof name === 'string' ? name : member.id;
}

function appendLine(li) {
  // Follow new lines only when the reader is already at the bottom, not while they scroll back.
  const atBottom = ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 40;
  ui.messages.append(li);
  while (ui.messages.childElementCount > MAX_LINES) ui.messages.firstElementChild.remove();
  if (atBottom) ui.log.scrollTop = ui.log.scrollHeight;
}

function addMessage(data, mine) {
  // The server's rule checked the shape, but a page should not crash on a surprise either.
  const name = typeof data?.name === 'string' ? data.name : 'someone';
  const text = typeof data?.text === 'string' ? data.text : '';
  const li = document.createElement('li');
  li.dataset.kind = 'message';
  if (mine) li.dataset.mine = '';
  const time = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  li.append(span('author', name), span('text', text), span('time', time));
  appendLine(li);
}

function addNotice(text, level = 'info') {
  const li = document.createElement('li');
  li.dataset.kind = 'notice';
  li.dataset.level = level;
  li.textContent = text;
  appendLine(li);
}

function renderMembers() {
  if (!session) return;
  const members = session.sub.members().sort((a, b) => displayName(a).localeCompare(displayName(b)));
  ui.members.replaceChildren(
    ...members.map((m) => {
      const li = document.createElement('li');
      li.dataset.member = m.id;
      li.textContent = displayName(m);
      // Member ids are display names (the server's presence key), so this is "me" in every tab.
      if (m.id === session.name) li.append(' ', span('you', '(you)'));
      return li;
    }),
  );
  ui.memberCount.textContent = String(members.length);
}

function join(name) {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  // DEMO ONLY: the name is the token (see demo/server.js); a real app sends a signed token.
  const client = connect(url, { token: name, WebSocket: transport });
  const s = { client, name, opened: false, sub: undefined };
  session = s;
  ui.join.disabled = true;
  ui.error.hidden = true;
  showState(client.state);

  // Without a listener the client reports to console.error; these are expected in a demo.
  client.on('error', (err) => console.warn('[chat]', err.message));
  client.on('open', () => {
    if (session !== s) return;
    showState('open');
    // Which transport carries the chat: 'websocket', or 'sse' behind a proxy that blocks WebSockets.
    ui.state.dataset.transport = transport.current;
    ui.state.title = `connected over ${transport.current === 'sse' ? 'SSE + HTTP (WebSockets blocked)' : 'WebSocket'}`;
    if (s.opened) return;
    s.opened = true;
    ui.joinForm.hidden = true;
    ui.chat.hidden = false;
    ui.leave.hidden = false;
    ui.text.focus();
  });
  client.on('reconnecting', ({ attempt }) => {
    if (session === s) showState('reconnecting', `attempt ${attempt}`);
  });
  client.on('close', ({ willReconnect }) => {
    if (session !== s) return;
    if (!s.opened) {
      // Browsers hide the HTTP status of a refused handshake (docs/protocol.md §1.2): a refused
      // name and an unreachable server both arrive as 1006. Retrying a refused name forever helps
      // nobody, so before the first open the page stops and lets the user try again.
      endSession(`Could not join as “${name}”: the server refused the name or cannot be reached.`);
      return;
    }
    showState(willReconnect ? 'reconnecting' : 'closed');
    if (!willReconnect) addNotice('Disconnected for good. Leave and join again.', 'error');
  });

  // `history: 50`: the conversation so far on joining; after a reconnect the client replays what
  // this tab missed by itself, or reports the gap below.
  s.sub = client.subscribe(TOPIC, (data, meta) => addMessage(data, meta.from === client.clientId), { history: 50 });
  s.sub.on('gap', () => addNotice('Some messages were missed while you were away.', 'error'));
  s.sub.on('join', (m) => {
    renderMembers();
    addNotice(`${displayName(m)} joined`);
  });
  s.sub.on('leave', (m) => {
    renderMembers();
    addNotice(`${displayName(m)} left`);
  });
  s.sub.on('error', (err) => addNotice(`The lobby refused you: ${err.message}`, 'error'));
  // Rejections (the client closed first) are reported by the 'close' listener above.
  s.sub.ready.then(renderMembers, () => {});
}

/** Back to the name form, with `error` shown when the visit failed. */
function endSession(error) {
  const s = session;
  if (!s) return;
  session = undefined;
  s.client.close(); // its 'close' event finds `session !== s` and is ignored
  ui.chat.hidden = true;
  ui.leave.hidden = true;
  ui.joinForm.hidden = false;
  ui.join.disabled = false;
  ui.messages.replaceChildren();
  ui.members.replaceChildren();
  ui.memberCount.textContent = '0';
  showState(error ? 'closed' : 'idle');
  if (error) showError(error);
  ui.name.focus();
}

ui.joinForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (session) return;
  const name = ui.name.value.trim();
  if (name.length === 0) return showError('Please enter a name.');
  if (name.length > MAX_NAME_LENGTH) return showError(`That name is too long: at most ${MAX_NAME_LENGTH} characters.`);
  join(name);
});

ui.sendForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const s = session;
  const text = ui.text.value;
  if (!s || text.trim() === '') return;
  if (text.length > MAX_TEXT_LENGTH) return addNotice(`Messages are limited to ${MAX_TEXT_LENGTH} characters.`, 'error');
  ui.text.value = '';
  // While reconnecting the client queues the message and sends it once the connection is back.
  s.client.publish(TOPIC, { name: s.name, text }).catch((err) => {
    if (session !== s) return;
    addNotice(`Not sent: ${err.message}`, 'error');
    if (!ui.text.value) ui.text.value = text;
  });
});

ui.leave.addEventListener('click', () => endSession());
