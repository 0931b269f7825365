// flood.mjs - an agent that sends many GenAI chat spans (--spans N, default 2000) in small
// batches over about four seconds, through the real protobuf exporter, so that a test can SIGKILL
// and restart the collector while requests are in flight. The exporter retries (connection
// refused or reset, 429, 503) with its own backoff; the script exits 1 if any export was
// finally given up, and prints every span id it made, one a line, to --ids FILE.
import fs from 'node:fs';
import { parseArgs, startTracing } from './otel.mjs';

const opts = parseArgs({ service: 'flood-agent', dri: 'alice@example.com',
                         workflow: 'flood', spans: '2000' });
// While the collector is down, exports wait in the exporter's backoff: allow all of them to
// be pending at once (the default, 30, fails the ones past it: the exporter's own drop).
const { tracer, finish } = startTracing(opts, {}, { maxExportBatchSize: 50,
                                                    scheduledDelayMillis: 10 },
                                        { concurrencyLimit: 1000 });
const total = Number(opts.spans);
const ids = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
for (let i = 0; i < total; i++) {
  const span = tracer.startSpan('chat flood-model', { attributes: {
    'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'flood-model', 'gen_ai.usage.input_tokens': 10,
    'gen_ai.usage.output_tokens': 2, 'agenttrail.seq': i } });
  ids.push(span.spanContext().spanId);
  span.end();
  if (i % 25 === 24) await sleep(30);
}
if (opts.ids) fs.writeFileSync(opts.ids, ids.join('\n') + '\n');
await finish();
