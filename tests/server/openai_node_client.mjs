// Drives the proxy with the official OpenAI Node SDK exactly as an application would,
// for tests/server/openai_node_sdk_test.cpp. The SDK is resolved from the directory
// scripts/install-deps installs it into, given on the command line, so nothing is
// downloaded here and no NODE_PATH is needed.
//
//   node openai_node_client.mjs <node_modules dir> <base URL> <prompt>
//
// Prints one line "openai-node-summary {…}" with what the SDK handed back, or
// "openai-node-error …" and exits 1.

import { createRequire } from 'node:module';
import path from 'node:path';

const [nodeModules, baseURL, prompt] = process.argv.slice(2);
const require = createRequire(path.join(nodeModules, 'resolver.js'));
const { OpenAI } = require('openai');

// No retries: a refusal from the proxy must reach the test as it is, not be resent.
const client = new OpenAI({ baseURL, apiKey: 'sk-test', maxRetries: 0, timeout: 20_000 });

async function main() {
  const chat = await client.chat.completions.create({
    model: 'sim-model',
    messages: [{ role: 'user', content: prompt }],
  });

  const { data: stream, response } = await client.chat.completions
    .create({ model: 'sim-model', messages: [{ role: 'user', content: prompt }], stream: true })
    .withResponse();
  let streamed = '';
  let chunks = 0;
  for await (const chunk of stream) {
    ++chunks;
    streamed += chunk.choices[0]?.delta?.content ?? '';
  }

  const completion = await client.completions.create({ model: 'sim-model', prompt });

  // encoding_format given: without it the SDK asks for base64 and decodes it itself,
  // which the simulator does not answer (it always sends float arrays).
  const embeddings = await client.embeddings.create({
    model: 'sim-model',
    input: [prompt, 'second'],
    encoding_format: 'float',
  });

  const summary = {
    chat_content: chat.choices[0]?.message?.content ?? null,
    chat_prompt_echo: chat.sim_prompt_echo ?? null,
    stream_text: streamed,
    stream_chunks: chunks,
    stream_e2ee: response.headers.get('x-e2ee'),
    completion_text: completion.choices[0]?.text ?? null,
    embeddings: embeddings.data.map((item) => item.embedding),
  };
  console.log('openai-node-summary ' + JSON.stringify(summary));
}

main().catch((error) => {
  console.log('openai-node-error ' + (error?.stack ?? String(error)));
  process.exit(1);
});
