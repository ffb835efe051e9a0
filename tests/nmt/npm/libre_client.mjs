// Translates stdin line by line through a LibreTranslate server with the `translate` package,
// configured as its README shows: engine "libre" and the server's URL.
// Usage: node libre_client.mjs http://127.0.0.1:PORT [api_key] < lines
import translate from "translate";
import { createInterface } from "node:readline";

translate.engine = "libre";
translate.url = process.argv[2] + "/translate";
if (process.argv[3]) translate.key = process.argv[3];

const lines = [];
for await (const line of createInterface({ input: process.stdin })) lines.push(line);
for (const line of lines) console.log(await translate(line, { from: "en", to: "es" }));
