// Lints in-memory files with the repository's own ESLint configuration (eslint.config.mjs), as
// `npm run lint` would if they were on disk. Reads [{ filePath, code }] as JSON on stdin and
// writes [{ filePath, messages: [{ ruleId, message }] }] to stdout. A separate process because
// Jest cannot load an ES-module configuration file.
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { ESLint } from 'eslint';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const files = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const eslint = new ESLint({ cwd: process.cwd() });
const results = [];
for (const { filePath, code } of files) {
  const [result] = await eslint.lintText(code, { filePath });
  results.push({ filePath, messages: result.messages.map(({ ruleId, message }) => ({ ruleId, message })) });
}
process.stdout.write(JSON.stringify(results));
