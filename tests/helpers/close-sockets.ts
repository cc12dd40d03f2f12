/** Shutting down a fake platform server: its WebSockets, then the HTTP server. */
import type http from 'node:http';
import { WebSocket, type WebSocketServer } from 'ws';

/**
 * Closes each socket properly (clients' close handshakes finish, so they log no error), gives a
 * second to stragglers before terminating them, then closes the WebSocket and HTTP servers.
 */
export async function closeSocketsAndServer(sockets: Iterable<WebSocket>, wss: WebSocketServer, server: http.Server, reason: string): Promise<void> {
  await Promise.all(
    [...sockets].map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          if (ws.readyState === WebSocket.CONNECTING) {
            ws.terminate();
            return resolve();
          }
          const timer = setTimeout(() => {
            ws.terminate();
            resolve();
          }, 1000);
          ws.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          if (ws.readyState === WebSocket.OPEN) ws.close(1001, reason);
        }),
    ),
  );
  await new Promise<void>((resolve) => wss.close(() => resolve()));
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
