/**
 * The load generator of the ack-latency figure, in its own process so that its timing is not
 * delayed by the fake Slack (which lives in the bench process and is busy answering signoff
 * while a wave is in flight). It takes waves over IPC and answers with their timings.
 */
import { keepAliveAgent, sendWave, type WaveRequest } from './load.js';

export interface WaveMessage {
  url: string;
  requests: WaveRequest[];
}

const agent = keepAliveAgent(200);

process.on('message', (m: WaveMessage | 'exit') => {
  if (m === 'exit') {
    agent.destroy();
    process.disconnect();
    return;
  }
  sendWave(m.url, m.requests, agent).then(
    (result) => process.send!({ ok: true, result }),
    (err: unknown) => process.send!({ ok: false, error: String(err) }),
  );
});
