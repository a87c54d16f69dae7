/**
 * One user's inbox. The topic `inbox:<user>` is an event log of `notification` and `read` entries;
 * the list and the unread count are computed from it, so every tab of the user agrees, and the
 * history replays it whole on sign-in.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { useCall, useSubscription } from 'switchboard/react';
import { ConnectionBanner, Header, newKey } from '../common/connection.jsx';

/** Entries replayed on sign-in (the server keeps 200 per user) and kept. */
const HISTORY = 200;
const TOAST_MS = 5_000;

export function Inbox({ user, since, users, onSignOut }) {
  const [toasts, setToasts] = useState([]);
  const inbox = useSubscription(`inbox:${user.id}`, {
    history: HISTORY,
    buffer: HISTORY * 2,
    onMessage: (entry) => {
      // Toast only what arrives live, not what the history replays on sign-in.
      if (entry?.kind !== 'notification' || entry.at < since) return;
      setToasts((t) => [...t.slice(-3), entry]);
      setTimeout(() => setToasts((t) => t.filter((x) => x.id !== entry.id)), TOAST_MS);
    },
  });

  const { list, unread } = useMemo(() => {
    const read = new Set();
    const notes = [];
    for (const e of inbox.messages) {
      if (e?.kind === 'notification') notes.push(e);
      else if (e?.kind === 'read' && Array.isArray(e.ids)) e.ids.forEach((id) => read.add(id));
    }
    const items = notes.reverse().map((n) => ({ ...n, unread: !read.has(n.id) }));
    return { list: items, unread: items.filter((n) => n.unread).length };
  }, [inbox.messages]);

  useEffect(() => {
    document.title = unread > 0 ? `(${unread}) Switchboard notification centre` : 'Switchboard notification centre';
  }, [unread]);

  const markRead = useCall('markRead');
  const mark = (ids) => {
    if (ids.length === 0) return;
    // One key per click: if the connection drops meanwhile the call is re-sent after the reconnect
    // and the server answers it once (docs/guarantees.md#commands).
    markRead.call({ ids }, { idempotencyKey: newKey() }).catch(() => {});
  };

  return (
    <>
      <Header title="Switchboard notification centre">
        <span className="me">
          {user.name}{' '}
          <span id="unread" className="badge" data-count={unread}>
            {unread}
          </span>
        </span>
        <button id="sign-out" className="secondary" type="button" onClick={onSignOut}>
          Sign out
        </button>
      </Header>
      <ConnectionBanner />
      <main>
        <section id="centre">
          <div className="panel inbox">
            <div className="inbox-head">
              <h2>Your notifications</h2>
              <button
                id="mark-all"
                type="button"
                className="secondary"
                disabled={unread === 0}
                onClick={() => mark(list.filter((n) => n.unread).map((n) => n.id))}
              >
                Mark all as read
              </button>
            </div>
            {inbox.error ? <p className="error">Your inbox refused you: {inbox.error.message}</p> : null}
            {inbox.ready && list.length === 0 ? <p className="hint">Nothing yet. Send yourself one →</p> : null}
            <ul id="notifications">
              {list.map((n) => (
                <li key={n.id} data-id={n.id} data-unread={n.unread ? '' : undefined}>
                  <div className="title">{n.title}</div>
                  {n.body ? <div className="body">{n.body}</div> : null}
                  <div className="meta">
                    from {n.from} · {new Date(n.at).toLocaleTimeString()}
                    {n.unread ? (
                      <button type="button" className="secondary mark" onClick={() => mark([n.id])}>
                        Mark as read
                      </button>
                    ) : null}
                  </div>
                </li>
              ))}
            </ul>
          </div>
          <SendForm users={users} me={user.id} />
        </section>
      </main>
      <div id="toasts" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className="toast panel" data-id={t.id}>
            <strong>{t.title}</strong>
            {t.body ? <div>{t.body}</div> : null}
          </div>
        ))}
      </div>
    </>
  );
}

function SendForm({ users, me }) {
  const [to, setTo] = useState(me);
  const [title, setTitle] = useState('');
  const [body, setBody] = useState('');
  const notify = useCall('notify');
  const sentOnce = useRef(false);
  return (
    <form
      id="send-form"
      className="panel"
      noValidate
      onSubmit={(ev) => {
        ev.preventDefault();
        if (title.trim() === '') return;
        sentOnce.current = true;
        notify.call({ to, title, body }).then(
          () => {
            setTitle('');
            setBody('');
          },
          () => {},
        );
      }}
    >
      <h2>Send a notification</h2>
      <label>
        To{' '}
        <select id="to" value={to} onChange={(e) => setTo(e.target.value)}>
          {users.map((u) => (
            <option key={u.id} value={u.id}>
              {u.name}
              {u.id === me ? ' (you)' : ''}
            </option>
          ))}
        </select>
      </label>
      <input id="title" placeholder="Title" maxLength={80} value={title} onChange={(e) => setTitle(e.target.value)} />
      <textarea id="body" placeholder="Message (optional)" maxLength={500} rows={3} value={body} onChange={(e) => setBody(e.target.value)} />
      <button id="send" type="submit" disabled={notify.pending || title.trim() === ''}>
        Send
      </button>
      <p className="hint" id="send-status">
        {notify.error ? `Not sent: ${notify.error.message}` : sentOnce.current && notify.data ? 'Sent.' : 'Or from a backend: POST /api/notify (docs/apps.md).'}
      </p>
    </form>
  );
}
