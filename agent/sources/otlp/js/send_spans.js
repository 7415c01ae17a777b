// Sends one parent and one child span to an OTLP/HTTP endpoint with the real
// OpenTelemetry JS SDK, then prints the ids it used as one JSON line.
//
//   node send_spans.js http://127.0.0.1:4318/v1/traces [proto|json][-gzip]
//
// Exits non-zero when the export fails (the SDK retries 429/503 first).
// Used by agent/sources/otlp/otlp_js_sdk_test.cc.
'use strict';

const { trace, SpanKind, SpanStatusCode } = require('@opentelemetry/api');
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { Resource } = require('@opentelemetry/resources');
const { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } = require('@opentelemetry/semantic-conventions');

async function main() {
  const url = process.argv[2];
  const [protocol, compression] = (process.argv[3] || 'proto').split('-');
  if (!url || !['proto', 'json'].includes(protocol)) {
    throw new Error('usage: node send_spans.js URL [proto|json][-gzip]');
  }
  const { OTLPTraceExporter } = protocol === 'json'
    ? require('@opentelemetry/exporter-trace-otlp-http')
    : require('@opentelemetry/exporter-trace-otlp-proto');
  const exporter = new OTLPTraceExporter({ url, timeoutMillis: 10000, compression: compression || 'none' });
  const provider = new BasicTracerProvider({
    resource: new Resource({
      [ATTR_SERVICE_NAME]: 'custos-otlp-test',
      [ATTR_SERVICE_VERSION]: '1.2.3',
      'deployment.environment': 'test',
    }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('custos-test-tracer', '0.1.0');

  const parent = tracer.startSpan('GET /checkout', {
    kind: SpanKind.SERVER,
    attributes: { 'http.request.method': 'GET', 'http.response.status_code': 500 },
  });
  const ctx = trace.setSpan(require('@opentelemetry/api').context.active(), parent);
  const child = tracer.startSpan('charge card', {
    kind: SpanKind.CLIENT,
    attributes: {
      'payment.provider': 'acme',
      'payment.amount': 12.5,
      'payment.retry': true,
      'payment.attempts': 3,
      'payment.tags': ['card', 'visa'],
    },
  }, ctx);
  child.addEvent('card declined', { 'decline.code': 'insufficient_funds' });
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'card declined' });
  child.end();
  parent.setStatus({ code: SpanStatusCode.ERROR });
  parent.end();

  await provider.forceFlush();  // rejects when the export failed
  await provider.shutdown();
  console.log(JSON.stringify({
    traceId: parent.spanContext().traceId,
    parentSpanId: parent.spanContext().spanId,
    childSpanId: child.spanContext().spanId,
  }));
}

main().catch((err) => {
  console.error('send_spans: export failed:', err && err.message ? err.message : err);
  process.exit(1);
});
