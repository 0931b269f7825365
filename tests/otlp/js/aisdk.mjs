// aisdk.mjs - an agent on the Vercel AI SDK (`ai`): generateText with the SDK's own mock
// language model (MockLanguageModelV3 from ai/test), a get_weather tool the model calls in its
// first step, and experimental_telemetry on, so the SDK emits its ai.generateText,
// ai.generateText.doGenerate (one per step, with usage and cached input tokens) and
// ai.toolCall spans through the real OpenTelemetry SDK.
import { generateText, stepCountIs, tool } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { z } from 'zod';
import { parseArgs, startTracing } from './otel.mjs';

const opts = parseArgs({ service: 'aisdk-agent' });
const { provider, finish } = startTracing(opts);

const usage = (i, o, c) => ({
  inputTokens: { total: i, noCache: i - c, cacheRead: c, cacheWrite: 0 },
  outputTokens: { total: o, text: o, reasoning: 0 },
});
let step = 0;
const model = new MockLanguageModelV3({
  provider: 'mock-provider',
  modelId: 'mock-model-1',
  doGenerate: async () => {
    step++;
    if (step === 1) {
      return { content: [{ type: 'tool-call', toolCallId: 'call_aisdk_1', toolName: 'get_weather',
                           input: JSON.stringify({ city: 'Paris' }) }],
               finishReason: { unified: 'tool-calls', raw: 'tool_calls' }, usage: usage(120, 18, 64), warnings: [] };
    }
    return { content: [{ type: 'text', text: 'SECRET-REPLY-aisdk: it is sunny in Paris' }],
             finishReason: { unified: 'stop', raw: 'stop' }, usage: usage(150, 25, 100), warnings: [] };
  },
});

const result = await generateText({
  model,
  system: 'SECRET-PROMPT-aisdk-system: you are a weather bot',
  prompt: 'SECRET-PROMPT-aisdk-user: what is the weather in Paris?',
  tools: {
    get_weather: tool({
      description: 'Current weather of a city',
      inputSchema: z.object({ city: z.string() }),
      execute: async ({ city }) => ({ city, sky: 'sunny', celsius: 21 }),
    }),
  },
  stopWhen: stepCountIs(3),
  experimental_telemetry: {
    isEnabled: true,
    functionId: 'aisdk-weather',
    metadata: { conversation: 'conv-aisdk-1' },
    tracer: provider.getTracer('ai'),
  },
});
console.error(`answer: ${result.text}`);
await finish();
