/**
 * The chat: pick a name, then talk in rooms. The name is the token (DEMO ONLY, see demo/server.js);
 * a real app passes a signed token. One provider per visit: leaving closes its client.
 */
import { useEffect, useRef, useState } from 'react';
import { SwitchboardProvider, useConnectionState } from 'switchboard/react';
import { ConnectionBanner, Header, CLIENT_OPTIONS, wsUrl } from '../common/connection.jsx';
import { Room } from './Room.jsx';

/** Mirrors the server's limit so the user hears why at once instead of after a round trip. */
const MAX_NAME_LENGTH = 32;
const ROOM = /^[a-z0-9][a-z0-9-]{0,31}$/;
const DEFAULT_ROOMS = ['lobby', 'random', 'help'];


export function App() {
  const [visit, setVisit] = useState(null); // { name, id }
  /** Why the last visit ended before it began (the server refused the name, or is down). */
  const [failure, setFailure] = useState('');
  if (!visit) {
    return (
      <JoinForm
        failure={failure}
        onJoin={(name) => {
          setFailure('');
          setVisit({ name, id: Date.now() });
        }}
      />
    );
  }
  return (
    <SwitchboardProvider key={visit.id} url={wsUrl()} options={{ ...CLIENT_OPTIONS, token: visit.name }} onError={(err) => console.warn('[chat]', err.message)}>
      <Chat
        name={visit.name}
        onLeave={(why) => {
          setVisit(null);
          setFailure(why ?? '');
        }}
      />
    </SwitchboardProvider>
  );
}

function JoinForm({ failure, onJoin }) {
  const [name, setName] = useState('');
  const [invalid, setInvalid] = useState('');
  const error = invalid || failure;
  return (
    <>
      <Header title="Switchboard chat" connected={false} failed={Boolean(failure) && !invalid} />
      <main>
        <form
          id="join-form"
          className="panel sign-in"
          noValidate
          onSubmit={(ev) => {
            ev.preventDefault();
            const n = name.trim();
            if (n.length === 0) return setInvalid('Please enter a name.');
            if (n.length > MAX_NAME_LENGTH) return setInvalid(`That name is too long: at most ${MAX_NAME_LENGTH} characters.`);
            setInvalid('');
            onJoin(n);
          }}
        >
          <label htmlFor="name">Your name</label>
          <input id="name" name="name" autoComplete="nickname" autoFocus value={name} onChange={(e) => setName(e.target.value)} />
          <p className="hint">1–32 characters. This demo trusts the name you type.</p>
          <button id="join" type="submit">
            Join the chat
          </button>
          {error ? (
            <p id="error" className="error" role="alert">
              {error}
            </p>
          ) : null}
        </form>
      </main>
    </>
  );
}

function Chat({ name, onLeave }) {
  const { state, lastClose } = useConnectionState();
  const [opened, setOpened] = useState(false);
  const [rooms, setRooms] = useState(DEFAULT_ROOMS);
  const [room, setRoom] = useState('lobby');
  const [newRoom, setNewRoom] = useState('');
  const leave = useRef(onLeave);
  leave.current = onLeave;

  useEffect(() => {
    if (state === 'open') setOpened(true);
  }, [state]);
  useEffect(() => {
    // Browsers hide the HTTP status of a refused handshake (docs/protocol.md §1.2): a refused
    // name and an unreachable server both arrive as 1006. Retrying a refused name forever helps
    // nobody, so before the first open the page stops and lets the user try again.
    if (!opened && lastClose) leave.current(`Could not join as “${name}”: the server refused the name or cannot be reached.`);
  }, [opened, lastClose, name]);

  return (
    <>
      <Header title="Switchboard chat">
        <span className="me">{name}</span>
        <button id="leave" className="secondary" type="button" onClick={() => onLeave()}>
          Leave
        </button>
      </Header>
      <ConnectionBanner />
      <main>
        {opened ? (
          <section id="chat">
            <nav id="rooms" className="panel">
              <h2>Rooms</h2>
              <ul>
                {rooms.map((r) => (
                  <li key={r}>
                    <button type="button" data-room={r} aria-current={r === room ? 'true' : undefined} onClick={() => setRoom(r)}>
                      # {r}
                    </button>
                  </li>
                ))}
              </ul>
              <form
                id="room-form"
                noValidate
                onSubmit={(ev) => {
                  ev.preventDefault();
                  const r = newRoom.trim().toLowerCase();
                  if (!ROOM.test(r)) return;
                  if (!rooms.includes(r)) setRooms([...rooms, r]);
                  setRoom(r);
                  setNewRoom('');
                }}
              >
                <input aria-label="New room" placeholder="new-room" maxLength={32} value={newRoom} onChange={(e) => setNewRoom(e.target.value)} />
              </form>
            </nav>
            <Room key={room} room={room} name={name} />
          </section>
        ) : (
          <p className="hint">Connecting as {name}…</p>
        )}
      </main>
    </>
  );
}
