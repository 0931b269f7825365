// openai_traceloop.mjs - an agent using the real `openai` npm client against the local
// mock of the chat completions API (mock_openai.mjs), instrumented by OpenLLMetry
// (@traceloop/instrumentation-openai): two chat spans, the first asking for the
// get_weather tool. The instrumentation hooks require('openai'), so the client is loaded with
// require after the instrumentation is enabled.
import { createRequire } from 'node:module';
import { OpenAIInstrumentation } from '@traceloop/instrumentation-openai';
import { parseArgs, startTracing } from './otel.mjs';
import { startMockOpenAI, runWeatherAgent } from './mock_openai.mjs';

const opts = parseArgs({ service: 'openllmetry-agent' });
const { provider, finish } = startTracing(opts);
const instrumentation = new OpenAIInstrumentation({ traceContent: true });
instrumentation.setTracerProvider(provider);
instrumentation.enable();
const OpenAI = createRequire(import.meta.url)('openai');
const mock = await startMockOpenAI();
const client = new OpenAI({ apiKey: 'sk-test-not-a-key', baseURL: mock.url, maxRetries: 0 });
console.error(`answer: ${await runWeatherAgent(client)}`);
await mock.close();
await finish();
