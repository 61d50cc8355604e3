// Drives troupe's OpenAI-compatible API with the official OpenAI Node SDK
// (npm "openai", found through NODE_PATH) and prints what it saw as one JSON
// object, for cli/openai_node_test.go to check.
// Environment: TROUPE_BASE_URL (…/v1), TROUPE_API_KEY.
const OpenAI = require("openai");

async function main() {
  const client = new OpenAI({ baseURL: process.env.TROUPE_BASE_URL, apiKey: process.env.TROUPE_API_KEY, maxRetries: 0 });
  const out = {};

  const models = [];
  for await (const m of client.models.list()) models.push(m.id);
  out.models = models;

  const { data: completion, response } = await client.chat.completions
    .create({ model: "chat", messages: [{ role: "user", content: "What is Temporal?" }] })
    .withResponse();
  out.completion = {
    id: completion.id,
    object: completion.object,
    content: completion.choices[0].message.content,
    finish_reason: completion.choices[0].finish_reason,
    usage: completion.usage,
    task_header: response.headers.get("x-troupe-task-id"),
  };

  const stream = await client.chat.completions.create({
    model: "chat",
    messages: [{ role: "user", content: "Stream it." }],
    stream: true,
    stream_options: { include_usage: true },
  });
  const streamed = { chunks: 0, content_chunks: 0, content: "", finish_reason: null, usage: null, ids: [] };
  for await (const chunk of stream) {
    streamed.chunks++;
    if (!streamed.ids.includes(chunk.id)) streamed.ids.push(chunk.id);
    if (chunk.usage) streamed.usage = chunk.usage;
    for (const choice of chunk.choices) {
      if (choice.delta?.content) streamed.content_chunks++;
      streamed.content += choice.delta?.content ?? "";
      if (choice.finish_reason) streamed.finish_reason = choice.finish_reason;
    }
  }
  out.stream = streamed;

  try {
    await client.chat.completions.create({ model: "no-such-agent", messages: [{ role: "user", content: "hi" }] });
    out.unknown = "no error";
  } catch (err) {
    out.unknown = { status: err.status, type: err.type ?? err.error?.type, code: err.code ?? null };
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
