/**
 * The notification centre: sign in as a demo user (the server issues a short-lived JWT), then read
 * your own inbox — a personal topic with history that only you may subscribe to (demo/lib/
 * notifications.js says why a topic and not targeted events) — with unread counts, toasts and
 * "mark as read" through an idempotent call; and send a notification to someone.
 */
import { useEffect, useState } from 'react';
import { SwitchboardProvider } from 'switchboard/react';
import { Header, CLIENT_OPTIONS, wsUrl } from '../common/connection.jsx';
import { Inbox } from './Inbox.jsx';

/** Asks the server for a token for `user`: `{ token, user, expiresAt }`. */
async function signIn(user) {
  const res = await fetch('/api/sign-in', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user }) });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error ?? `sign-in failed: HTTP ${res.status}`);
  return body;
}

export function App() {
  const [users, setUsers] = useState([]);
  const [session, setSession] = useState(null); // { user: { id, name }, since }
  const [error, setError] = useState('');
  useEffect(() => {
    fetch('/api/users')
      .then((r) => r.json())
      .then((b) => setUsers(b.users))
      .catch(() => setError('Could not load the demo users; is the server running?'));
  }, []);

  if (!session) {
    return (
      <>
        <Header title="Switchboard notification centre" connected={false} />
        <main>
          <div id="sign-in" className="panel sign-in">
            <label>Sign in as</label>
            <div className="users">
              {users.map((u) => (
                <button
                  key={u.id}
                  type="button"
                  data-user={u.id}
                  onClick={() =>
                    signIn(u.id).then(
                      (r) => setSession({ user: r.user, since: Date.now() }),
                      (err) => setError(err.message),
                    )
                  }
                >
                  {u.name}
                </button>
              ))}
            </div>
            <p className="hint">DEMO ONLY: no password. The server signs a JWT valid for 5 minutes; the client fetches a fresh one whenever it connects or the server asks.</p>
            {error ? (
              <p id="error" className="error" role="alert">
                {error}
              </p>
            ) : null}
          </div>
        </main>
      </>
    );
  }

  const { user } = session;
  return (
    <SwitchboardProvider
      key={user.id}
      url={wsUrl()}
      // A function: called before every connection attempt and on the server's refresh request,
      // so the short-lived token is always fresh (docs/client.md#token-refresh).
      options={{ ...CLIENT_OPTIONS, token: () => signIn(user.id).then((r) => r.token) }}
      onError={(err) => console.warn('[notifications]', err.message)}
    >
      <Inbox user={user} since={session.since} users={users} onSignOut={() => setSession(null)} />
    </SwitchboardProvider>
  );
}
