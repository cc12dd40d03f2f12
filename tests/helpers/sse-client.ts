/** A server-sent events client for tests: collects frames as they arrive, until closed. */
export interface SseFrame {
  id: number;
  event: string;
  data: any;
}

export interface SseClient {
  frames: SseFrame[];
  close(): void;
}

/** Opens `url` as an event stream (fetch, no EventSource: Node has none) and parses its frames. */
export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  if (res.status !== 200 || !res.body) throw new Error(`the event stream answered ${res.status}: ${await res.text()}`);
  const frames: SseFrame[] = [];
  void (async () => {
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const field = (name: string) => block.split('\n').find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
          const id = field('id');
          const data = field('data');
          if (id !== undefined && data !== undefined) frames.push({ id: Number(id), event: field('event') ?? 'message', data: JSON.parse(data) });
        }
      }
    } catch {
      // Closed by the test.
    }
  })();
  return { frames, close: () => abort.abort() };
}
