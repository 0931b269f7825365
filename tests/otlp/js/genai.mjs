// genai.mjs - an "agent" instrumented by hand with the OpenTelemetry GenAI semantic
// conventions: one invoke_agent span around two chat spans and two execute_tool spans (one
// failing), usage with cache reads, the proposed cost attributes, a plain HTTP span that is not
// AI work, and agenttrail.* resource attributes. Exported by the real OTLP exporter, protobuf
// (--format proto, the default) or OTLP/JSON (--format json).
// Prompt and reply text carry the markers SECRET-PROMPT- / SECRET-REPLY-: a store must never
// hold them in clear.
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { parseArgs, startTracing } from './otel.mjs';

const opts = parseArgs({ service: 'weather-agent', dri: 'alice@example.com',
                         workflow: 'weather-report' });
const { tracer, finish } = startTracing(opts, { 'deployment.environment.name': 'test' });

const msgs = (text) => JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: text }] }]);

function chat(n, usage, extra = {}) {
  const span = tracer.startSpan('chat gpt-4o-mini', {
    kind: SpanKind.CLIENT,
    attributes: {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': 'gpt-4o-mini-2024-07-18',
      'gen_ai.conversation.id': 'conv-weather-1',
      'gen_ai.usage.input_tokens': usage[0],
      'gen_ai.usage.output_tokens': usage[1],
      'gen_ai.usage.cache_read.input_tokens': usage[2],
      'gen_ai.usage.cost.amount': usage[3],
      'gen_ai.usage.cost.currency': 'USD',
      'gen_ai.system_instructions': `SECRET-PROMPT-genai-system-${n}: you are a weather bot`,
      'gen_ai.input.messages': msgs(`SECRET-PROMPT-genai-user-${n}: weather in Paris?`),
      'gen_ai.output.messages': JSON.stringify([{ role: 'assistant', parts: [
        { type: 'text', content: `SECRET-REPLY-genai-${n}: it is sunny` }] }]),
      ...extra,
    },
  });
  span.end();
}

function tool(name, callId, args, error) {
  const span = tracer.startSpan(`execute_tool ${name}`, {
    kind: SpanKind.INTERNAL,
    attributes: {
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': name,
      'gen_ai.tool.call.id': callId,
      'gen_ai.tool.call.arguments': JSON.stringify(args),
    },
  });
  if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
  span.end();
}

const agent = tracer.startSpan('invoke_agent weather-agent', {
  attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'weather-agent',
                'gen_ai.provider.name': 'openai' },
});
context.with(trace.setSpan(context.active(), agent), () => {
  chat(1, [120, 18, 64, 0.00042]);
  tool('get_weather', 'call_w1', { city: 'Paris' });
  tool('get_forecast', 'call_f1', { city: 'Paris', days: 3 }, 'forecast service unavailable');
  chat(2, [150, 25, 100, 0.00051]);
  const http = tracer.startSpan('GET /status', {
    kind: SpanKind.CLIENT,
    attributes: { 'http.request.method': 'GET', 'url.full': 'http://127.0.0.1:1/status',
                  'http.response.status_code': 200 },
  });
  http.end();
});
agent.end();
await finish();
