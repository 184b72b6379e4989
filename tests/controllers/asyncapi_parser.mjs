// Parse AsyncAPI documents with the official @asyncapi/parser and report what it understood.
//
// stdin: a JSON object {name: document text (JSON or YAML)}.
// stdout: a JSON object {name: {diagnostics, model}}, where model is what the parser's
// own API reads from the document (channels, operations, messages, schemas), or null
// when it could not parse it.
import { Parser } from '@asyncapi/parser';
import yaml from 'js-yaml';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const names = (collection) => collection.all().map((item) => item.name?.() ?? item.id());

function describeMessage(message) {
  const payload = message.payload();
  return {
    id: message.id(),
    name: message.name() ?? null,
    contentType: message.contentType() ?? null,
    payload: payload ? payload.json() : null,
    headers: message.headers() ? Object.keys(message.headers().properties() ?? {}).sort() : [],
    correlationId: message.correlationId()?.location() ?? null,
  };
}

function model(document) {
  return {
    version: document.version(),
    title: document.info().title(),
    servers: document.servers().all().map((server) => ({
      id: server.id(), host: server.host(), protocol: server.protocol(), pathname: server.pathname() ?? null,
    })),
    channels: document.channels().all().map((channel) => ({
      id: channel.id(),
      address: channel.address() ?? null,
      parameters: channel.parameters().all().map((parameter) => parameter.id()),
      messages: channel.messages().all().map(describeMessage),
    })),
    operations: document.operations().all().map((operation) => ({
      id: operation.id(),
      action: operation.action(),
      channels: operation.channels().all().map((channel) => channel.id()),
      messages: operation.messages().all().map((message) => message.id()),
      reply: operation.reply()
        ? operation.reply().messages().all().map((message) => message.id())
        : null,
    })),
    schemas: document.components().schemas().all().map((schema) => schema.id()),
  };
}

const parser = new Parser();
const output = {};
for (const [name, text] of Object.entries(input)) {
  const { document, diagnostics } = await parser.parse(text);
  output[name] = {
    diagnostics: diagnostics.map((d) => ({
      code: d.code, message: d.message, severity: d.severity, path: d.path.join('/'),
    })),
    model: document ? model(document) : null,
    // The text read back by js-yaml (what the parser reads YAML with; JSON is YAML too).
    loaded: yaml.load(text),
  };
}
process.stdout.write(JSON.stringify(output));
