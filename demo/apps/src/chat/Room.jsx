/**
 * One room: its messages (the last 50 on entry, then live; missed ones replayed after a reconnect),
 * who is here, and who is typing. Every hook here holds at most one subscription on the wire, also
 * under StrictMode's double mount; `useSubscription` and `usePresence` on one topic share it.
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { useClient, usePresence, useSubscription } from 'switchboard/react';

export const MAX_TEXT_LENGTH = 500;
/** Messages kept on screen; older ones scroll out so a long-open tab does not grow without bound. */
const BUFFER = 200;
/** A typist is shown this long after their last signal; signals are sent at most every TYPING_EVERY_MS. */
const TYPING_SHOWN_MS = 4_000;
const TYPING_EVERY_MS = 2_000;

const displayName = (member) => (typeof member.info?.name === 'string' ? member.info.name : member.id);

export function Room({ room, name }) {
  const client = useClient();
  const topic = `chat:${room}`;
  const typingTopic = `typing:${room}`;
  /** Notices (joins, leaves, gaps, errors), each placed after the message count it came at. */
  const [notices, setNotices] = useState([]);
  const received = useRef(0);
  const nextNotice = useRef(0);
  const addNotice = (text, level = 'info') => setNotices((n) => [...n.slice(-100), { id: `n${nextNotice.current++}`, text, level, at: received.current }]);

  const sub = useSubscription(topic, {
    history: 50,
    buffer: BUFFER,
    onGap: () => addNotice('Some messages were missed while you were away.', 'error'),
  });
  received.current = sub.received;
  const { members, ready } = usePresence(topic);

  // Join and leave notices: the differences between member lists (after a reconnect the client
  // reports the differences too, so the list never drifts).
  const known = useRef(undefined);
  useEffect(() => {
    if (!ready) return;
    const now = new Map(members.map((m) => [m.id, m]));
    const before = known.current;
    known.current = now;
    if (!before) return; // the first list is who was here already, not news
    for (const [id, m] of now) if (!before.has(id)) addNotice(`${displayName(m)} joined`);
    for (const [id, m] of before) if (!now.has(id)) addNotice(`${displayName(m)} left`);
  }, [members, ready]);
  useEffect(() => {
    if (sub.error) addNotice(`The room refused you: ${sub.error.message}`, 'error');
  }, [sub.error]);

  // Typing indicators: volatile, no history; the newest signal per name wins and fades out.
  const [typists, setTypists] = useState({});
  useSubscription(typingTopic, {
    buffer: 0,
    onMessage: (d) => {
      if (!d || d.name === name) return;
      setTypists((t) => {
        const next = { ...t };
        if (d.typing) next[d.name] = Date.now() + TYPING_SHOWN_MS;
        else delete next[d.name];
        return next;
      });
    },
  });
  useEffect(() => {
    const timer = setInterval(() => {
      setTypists((t) => {
        const now = Date.now();
        const live = Object.entries(t).filter(([, until]) => until > now);
        return live.length === Object.keys(t).length ? t : Object.fromEntries(live);
      });
    }, 500);
    return () => clearInterval(timer);
  }, []);
  const lastTyping = useRef(0);
  const signalTyping = (typing) => {
    const now = Date.now();
    if (typing && now - lastTyping.current < TYPING_EVERY_MS) return;
    lastTyping.current = typing ? now : 0;
    // Only while connected: a queued "is typing" would be stale by the time it went out.
    if (client?.state === 'open') client.publish(typingTopic, { name, typing }).catch(() => {});
  };

  const [text, setText] = useState('');
  const send = (ev) => {
    ev.preventDefault();
    if (!client || text.trim() === '') return;
    if (text.length > MAX_TEXT_LENGTH) return addNotice(`Messages are limited to ${MAX_TEXT_LENGTH} characters.`, 'error');
    const sent = text;
    setText('');
    signalTyping(false);
    // While reconnecting the client queues the message and sends it once the connection is back.
    client.publish(topic, { name, text: sent }).catch((err) => {
      addNotice(`Not sent: ${err.message}`, 'error');
      setText((t) => t || sent);
    });
  };

  // Follow new lines only when the reader is already at the bottom, not while they scroll back.
  const log = useRef(null);
  const atBottom = useRef(true);
  useLayoutEffect(() => {
    const el = log.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  });

  const lines = [];
  const first = sub.received - sub.messages.length;
  let n = 0;
  const noticesUpTo = (count) => {
    while (n < notices.length && notices[n].at <= count) {
      const x = notices[n++];
      lines.push(
        <li key={x.id} data-kind="notice" data-level={x.level}>
          {x.text}
        </li>,
      );
    }
  };
  sub.messages.forEach((m, i) => {
    noticesUpTo(first + i);
    lines.push(
      <li key={first + i} data-kind="message" data-mine={m?.name === name ? '' : undefined}>
        <span className="author">{typeof m?.name === 'string' ? m.name : 'someone'}</span>
        <span className="text">{typeof m?.text === 'string' ? m.text : ''}</span>
      </li>,
    );
  });
  noticesUpTo(Infinity);

  const typing = Object.keys(typists).sort();
  const sorted = [...members].sort((a, b) => displayName(a).localeCompare(displayName(b)));
  return (
    <>
      <div id="log" className="panel" ref={log} onScroll={(e) => (atBottom.current = e.currentTarget.scrollHeight - e.currentTarget.scrollTop - e.currentTarget.clientHeight < 40)}>
        <h2># {room}</h2>
        <ul id="messages" aria-live="polite">
          {lines}
        </ul>
      </div>
      <aside id="roster" className="panel">
        <h2>
          Here (<span id="member-count">{members.length}</span>)
        </h2>
        <ul id="members">
          {sorted.map((m) => (
            <li key={m.id} data-member={m.id}>
              {displayName(m)}
              {m.id === name ? <span className="you"> (you)</span> : null}
            </li>
          ))}
        </ul>
      </aside>
      <form id="send-form" noValidate onSubmit={send}>
        <p id="typing" aria-live="polite">
          {typing.length === 0 ? '\u00a0' : `${typing.join(', ')} ${typing.length === 1 ? 'is' : 'are'} typing…`}
        </p>
        <div className="row">
          <input
            id="text"
            name="text"
            maxLength={MAX_TEXT_LENGTH}
            autoComplete="off"
            placeholder={`Message #${room}`}
            aria-label="Message"
            value={text}
            onChange={(e) => {
              setText(e.target.value);
              signalTyping(e.target.value !== '');
            }}
          />
          <button id="send" type="submit">
            Send
          </button>
        </div>
      </form>
    </>
  );
}
