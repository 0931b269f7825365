// mock_openai.mjs - a small local stand-in for the OpenAI chat completions API (POST
// /v1/chat/completions on 127.0.0.1, a free port), for the real `openai` client to talk to.
// Canned replies in turn: first the assistant asks for the get_weather tool (tool_calls), then,
// once the request carries the tool's result, a text answer. Every reply has usage with
// prompt_tokens_details.cached_tokens. The reply text carries the marker SECRET-REPLY-.
import http from 'node:http';
import { trace } from '@opentelemetry/api';

export const USAGE = [
  { prompt_tokens: 120, completion_tokens: 18, total_tokens: 138,
    prompt_tokens_details: { cached_tokens: 64 } },
  { prompt_tokens: 150, completion_tokens: 25, total_tokens: 175,
    prompt_tokens_details: { cached_tokens: 100 } },
];

function reply(body, n) {
  const hasTool = (body.messages || []).some((m) => m.role === 'tool');
  const message = hasTool
    ? { role: 'assistant', content: 'SECRET-REPLY-openai: it is sunny and 21C in Paris',
        refusal: null }
    : { role: 'assistant', content: null, refusal: null,
        tool_calls: [{ id: 'call_weather_1', type: 'function',
                       function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] };
  return {
    id: `chatcmpl-mock-${n}`,
    object: 'chat.completion',
    created: 1765000000 + n,
    model: 'gpt-4o-mini-2024-07-18',
    system_fingerprint: 'fp_mock',
    choices: [{ index: 0, message, logprobs: null,
                finish_reason: hasTool ? 'stop' : 'tool_calls' }],
    usage: USAGE[hasTool ? 1 : 0],
  };
}

// Starts the mock; resolves to { url, close } (url is the base for the client, ".../v1").
export function startMockOpenAI() {
  let n = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"not found"}}');
        return;
      }
      const out = JSON.stringify(reply(JSON.parse(Buffer.concat(chunks).toString()), n++));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(out);
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({ url: `http://127.0.0.1:${server.address().port}/v1`,
                close: () => new Promise((r) => server.close(r)) });
    });
  });
}

// The agent loop both openai scripts run, in one trace under a plain span of the agent's own
// (not AI work by itself): ask, run the requested tool, ask again.
export function runWeatherAgent(client) {
  return trace.getTracer('weather-agent').startActiveSpan('weather-agent run', async (span) => {
    try {
      return await weatherLoop(client);
    } finally {
      span.end();
    }
  });
}

async function weatherLoop(client) {
  const tools = [{ type: 'function', function: {
    name: 'get_weather', description: 'Current weather of a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } },
                  required: ['city'] } } }];
  const messages = [
    { role: 'system', content: 'SECRET-PROMPT-openai-system: you are a weather bot' },
    { role: 'user', content: 'SECRET-PROMPT-openai-user: what is the weather in Paris?' },
  ];
  const first = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools });
  const call = first.choices[0].message.tool_calls[0];
  messages.push(first.choices[0].message);
  const args = JSON.parse(call.function.arguments);
  messages.push({ role: 'tool', tool_call_id: call.id,
                  content: JSON.stringify({ city: args.city, sky: 'sunny', celsius: 21 }) });
  const second = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools });
  return second.choices[0].message.content;
}
