/**
 * The chat app's server side: rooms `chat:<room>` with presence and history, schema-validated
 * messages published under the sender's own name, and typing indicators on `typing:<room>`, a
 * volatile topic without history (a lost "is typing" is replaced by the next one).
 */
import { z } from 'zod';

/** Limits of a display name and of one message, in UTF-16 code units (as the page counts them). */
export const MAX_NAME_LENGTH = 32;
export const MAX_TEXT_LENGTH = 500;
/** A room name: what follows `chat:` and `typing:`. */
const ROOM = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** What a chat message must be: exactly `{ name, text }`, with 1–500 characters that are not all blank. */
export const chatMessage = z.strictObject({
  name: z.string().min(1).max(MAX_NAME_LENGTH),
  text: z
    .string()
    .min(1)
    .max(MAX_TEXT_LENGTH)
    .refine((t) => t.trim() !== '', 'Message is blank'),
});

/** What a typing indicator must be: `{ name, typing }`. */
export const typingSignal = z.strictObject({ name: z.string().min(1).max(MAX_NAME_LENGTH), typing: z.boolean() });

/** Whether `topic` is `<prefix><room>` with a valid room name. */
const roomOf = (prefix) => (topic) => topic.startsWith(prefix) && ROOM.test(topic.slice(prefix.length));
const isChatRoom = roomOf('chat:');
const isTypingRoom = roomOf('typing:');

/**
 * Whether `data` carries the sender's own name. The name travels with the message so every reader
 * can show it; it must be the sender's, or anyone could post as anyone. (The rule runs before the
 * schema, so it reads `data` without trusting its shape.)
 */
function ownName(ctx, data) {
  return typeof ctx.identity?.name === 'string' && typeof data === 'object' && data !== null && data.name === ctx.identity.name;
}

/** A chat identity is a display name (the demo's token); a notification user's JWT is not one. */
const isChatUser = (ctx) => typeof ctx.identity?.name === 'string' && ctx.identity.sub === undefined;

/**
 * Registers the chat topics on `server`.
 *
 * @param {import('switchboard/server').Server} server
 * @param {{ onPublish?: () => void }} [hooks] `onPublish` counts accepted publishes for the dashboard
 */
export function registerChat(server, { onPublish = () => {} } = {}) {
  server
    .topic('chat:*', {
      subscribe: (ctx, topic) => isChatUser(ctx) && isChatRoom(topic),
      publish: (ctx, topic, data) => {
        const ok = isChatUser(ctx) && isChatRoom(topic) && ownName(ctx, data);
        if (ok) onPublish();
        return ok;
      },
      schema: chatMessage,
      presence: true,
      // The last 50 messages for an hour: a newcomer sees the conversation so far, and a tab that
      // lost its connection gets what it missed, exactly once (docs/guarantees.md).
      history: { size: 50, ttlMs: 3_600_000 },
    })
    .topic('typing:*', {
      subscribe: (ctx, topic) => isChatUser(ctx) && isTypingRoom(topic),
      publish: (ctx, topic, data) => {
        const ok = isChatUser(ctx) && isTypingRoom(topic) && ownName(ctx, data);
        if (ok) onPublish();
        return ok;
      },
      schema: typingSignal,
      volatile: true,
      history: false,
    });
}
