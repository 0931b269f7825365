// otel.mjs - what the agent scripts of tests/otlp/js share: the command line
// (ENDPOINT [--format proto|json] [--service NAME] [--dri D] [--workflow W]), a real
// OpenTelemetry NodeTracerProvider with the real OTLP exporter of the chosen format, and the
// flush/shutdown every script does before it exits, failing the process when an export failed
// (so a test tells "the exporter gave up" from "the collector lost spans"), with the SDK's
// warnings and retries on stderr.
import { DiagLogLevel, diag } from '@opentelemetry/api';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';

export function parseArgs(defaults = {}) {
  const a = process.argv.slice(2);
  if (a.length < 1 || a[0].startsWith('--')) {
    console.error(`usage: node ${process.argv[1]} ENDPOINT [--format proto|json] ` +
                  '[--service NAME] [--dri D] [--workflow W] [--spans N]');
    process.exit(2);
  }
  const opts = { endpoint: a[0], format: 'proto', ...defaults };
  for (let i = 1; i < a.length; i += 2) {
    if (!a[i].startsWith('--') || i + 1 >= a.length) {
      console.error(`bad argument ${a[i]}`);
      process.exit(2);
    }
    opts[a[i].slice(2)] = a[i + 1];
  }
  if (!opts.endpoint.endsWith('/v1/traces')) {
    opts.endpoint = opts.endpoint.replace(/\/$/, '') + '/v1/traces';
  }
  return opts;
}

// Wraps the real exporter to count what it reports: the SDK swallows export failures.
class CountingExporter {
  constructor(inner) {
    this.inner = inner;
    this.ok = 0;
    this.failed = 0;
    this.spans = 0;
  }
  export(spans, done) {
    this.inner.export(spans, (r) => {
      if (r.code === 0) {
        this.ok++;
        this.spans += spans.length;
      } else {
        this.failed++;
        console.error(`export of ${spans.length} spans failed: ${r.error}`);
      }
      done(r);
    });
  }
  forceFlush() { return this.inner.forceFlush ? this.inner.forceFlush() : Promise.resolve(); }
  shutdown() { return this.inner.shutdown(); }
}

// opts: from parseArgs; resource: extra resource attributes; batch: BatchSpanProcessor
// settings; exporterOpts: more options of the OTLP exporter. Returns { provider, tracer,
// finish, exporter } where finish() flushes, shuts down and exits.
export function startTracing(opts, resource = {}, batch = {}, exporterOpts = {}) {
  // The SDK's own log on stderr: its errors and warnings, and of the rest only what tells of
  // retries (a retried export logs "Scheduling export retry in N ms" at its verbose level).
  const text = (a) => (typeof a === 'string' ? a : JSON.stringify(a));
  const says = (msg, ...args) => console.error(['otel:', msg, ...args].map(text).join(' '));
  const retryOnly = (msg, ...args) => {
    if (/Scheduling export retry|not retrying|maximum retry/.test(String(msg))) says(msg, ...args);
  };
  diag.setLogger({ error: says, warn: says, info: retryOnly, debug: retryOnly,
                   verbose: retryOnly }, { logLevel: DiagLogLevel.VERBOSE,
                                           suppressOverrideMessage: true });
  const attrs = { [ATTR_SERVICE_NAME]: opts.service || 'agent', ...resource };
  if (opts.dri) attrs['agenttrail.dri'] = opts.dri;
  if (opts.workflow) attrs['agenttrail.workflow'] = opts.workflow;
  const Exporter = opts.format === 'json' ? JsonExporter : ProtoExporter;
  const exporter = new CountingExporter(
      new Exporter({ url: opts.endpoint, timeoutMillis: Number(opts.timeout || 30000),
                     ...exporterOpts }));
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes(attrs),
    spanProcessors: [new BatchSpanProcessor(exporter, {
      maxQueueSize: 100000,
      maxExportBatchSize: 512,
      scheduledDelayMillis: 50,
      exportTimeoutMillis: Number(opts.timeout || 30000),
      ...batch,
    })],
  });
  provider.register();
  const tracer = provider.getTracer('agenttrail-test-agent', '1.0.0');
  async function finish() {
    try {
      await provider.forceFlush();
      await provider.shutdown();
    } catch (e) {
      console.error(`flush or shutdown failed: ${e}`);
      exporter.failed++;
    }
    console.log(JSON.stringify({ exports_ok: exporter.ok, exports_failed: exporter.failed,
                                 spans_exported: exporter.spans }));
    process.exit(exporter.failed === 0 ? 0 : 1);
  }
  return { provider, tracer, finish, exporter };
}
